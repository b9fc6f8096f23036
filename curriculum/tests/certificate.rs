//! The certificate rule (`RunDir::certify`), the only way to a `Certified` policy: a
//! checkpoint drives an arm only if its run's ledger records a generation that promoted it
//! through the gate, for this arm, and the checkpoint on disk is the one promoted. Each refusal
//! names its reason.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use regrasp_curriculum::ledger::Ledger;
use regrasp_curriculum::run::RunDir;
use regrasp_curriculum::vocabulary::MetaKey;
use regrasp_policy::config::TrainConfig;
use regrasp_policy::run::{RunOptions, train};
use regrasp_sim::ArmModel;

fn arm() -> Arc<ArmModel> {
    Arc::new(ArmModel::default_arm().unwrap())
}

/// A tiny checkpoint made by the real pipeline (two demonstrations, one epoch), once per
/// test binary: (its directory, its content hash).
fn checkpoint() -> &'static (PathBuf, String) {
    static CKPT: OnceLock<(PathBuf, String)> = OnceLock::new();
    CKPT.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("regrasp-cert-train-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let mut cfg = TrainConfig { envs: 2, rollout_steps: 8, total_env_steps: 0, ..TrainConfig::default() };
        cfg.model.hidden = 16;
        cfg.bc.episodes = 2;
        cfg.bc.epochs = 1;
        cfg.bc.dagger_rounds = 0;
        let c =
            train(cfg, arm(), &out, RunOptions { warm_start_bc: true, ..RunOptions::default() }, &mut |_| {}).unwrap();
        (regrasp_policy::run::latest(&out).unwrap(), c.meta.content_hash)
    })
}

/// A run directory holding a copy of the checkpoint as its warm-start champion, made for
/// `arm_hash`; with `promoted`, generation 1 promoted it through the gate as the loop records it.
fn run_dir(name: &str, arm_hash: &str, promoted: bool) -> (PathBuf, String) {
    let (src, hash) = checkpoint();
    let dir = std::env::temp_dir().join(format!("regrasp-cert-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rel = format!("checkpoints/{hash}");
    copy_dir(src, &dir.join(&rel));
    let mut ledger = Ledger::open(&dir.join("ledger.sqlite")).unwrap();
    ledger.set_meta(MetaKey::ArmHash, arm_hash).unwrap();
    ledger.record_checkpoint(hash, None, "bc", 0, &rel).unwrap();
    ledger.set_initial_champion(hash).unwrap();
    if promoted {
        promote(&mut ledger, 1, hash, true);
    }
    (dir, hash.clone())
}

fn promote(ledger: &mut Ledger, generation: u32, hash: &str, promote: bool) {
    regrasp_curriculum::testing::record_gate_decision(ledger, generation, hash, promote).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn this_arm() -> String {
    regrasp_curriculum::run::arm_hash(&arm())
}

#[test]
fn a_promoted_checkpoint_for_this_arm_is_certified_with_its_evidence() {
    let (dir, hash) = run_dir("ok", &this_arm(), true);
    let run = RunDir::open(&dir).unwrap();
    let certified = run.certify(None, &arm()).unwrap();
    assert_eq!(certified.policy().hash, hash);
    let c = certified.certificate();
    assert_eq!((c.checkpoint.as_str(), c.arm_hash.as_str()), (hash.as_str(), this_arm().as_str()));
    assert!(c.source.ends_with("generation 1") && c.evidence.contains("heldout: gain significant"), "{c:?}");
    // Naming the champion explicitly is the same certificate.
    assert_eq!(run.certify(Some(&hash), &arm()).unwrap().certificate(), c);
}

#[test]
fn a_never_promoted_or_rolled_back_checkpoint_is_refused() {
    let (dir, hash) = run_dir("never", &this_arm(), false);
    let e = RunDir::open(&dir).unwrap().certify(None, &arm()).unwrap_err().to_string();
    assert!(e.contains("not certified") && e.contains("never promoted") && e.contains(&hash), "{e}");
    // A generation that judged it and rolled it back is no certificate either.
    promote(&mut Ledger::open(&dir.join("ledger.sqlite")).unwrap(), 1, &hash, false);
    let e = RunDir::open(&dir).unwrap().certify(Some(&hash), &arm()).unwrap_err().to_string();
    assert!(e.contains("never promoted"), "{e}");
}

#[test]
fn a_checkpoint_promoted_for_another_arm_is_refused() {
    let (dir, _) = run_dir("other-arm", "ffffffffffffffff", true);
    let e = RunDir::open(&dir).unwrap().certify(None, &arm()).unwrap_err().to_string();
    assert!(e.contains("not for this arm") && e.contains("ffffffffffffffff"), "{e}");
}

#[test]
fn altered_weights_and_unknown_or_mislabelled_checkpoints_are_refused() {
    let (dir, hash) = run_dir("altered", &this_arm(), true);
    let e = RunDir::open(&dir).unwrap().certify(Some("0123456789abcdef"), &arm()).unwrap_err().to_string();
    assert!(e.contains("0123456789abcdef") && e.contains("is not in"), "{e}");
    // The ledger promotes a hash whose recorded directory holds another checkpoint.
    {
        let mut ledger = Ledger::open(&dir.join("ledger.sqlite")).unwrap();
        ledger.record_checkpoint("0123456789abcdef", None, "bc", 0, &format!("checkpoints/{hash}")).unwrap();
        promote(&mut ledger, 2, "0123456789abcdef", true);
    }
    let e = RunDir::open(&dir).unwrap().certify(Some("0123456789abcdef"), &arm()).unwrap_err().to_string();
    assert!(e.contains(&format!("holds checkpoint {hash}")) && e.contains("promoted 0123456789abcdef"), "{e}");
    // One byte of the promoted model file changed: its content hash no longer matches.
    let model = dir.join("checkpoints").join(&hash).join("model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    let k = bytes.len() / 2;
    bytes[k] ^= 0x40;
    std::fs::write(&model, bytes).unwrap();
    let e = RunDir::open(&dir).unwrap().certify(Some(&hash), &arm()).unwrap_err().to_string();
    assert!(e.contains("not certified"), "{e}");
}

#[test]
fn a_directory_without_a_ledger_is_not_a_run() {
    let dir = std::env::temp_dir().join(format!("regrasp-cert-none-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let e = RunDir::open(&dir).err().unwrap().to_string();
    assert!(e.contains("no ledger.sqlite") && e.contains("regrasp improve"), "{e}");
}
