//! Checkpoints: a round trip gives identical actions; missing, truncated, altered or mismatched
//! checkpoints are clear errors, never a panic or a silently wrong policy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use regrasp_policy::PolicyError;
use regrasp_policy::checkpoint::{Checkpoint, FORMAT_VERSION};
use regrasp_policy::config::{LogStd, TrainConfig};
use regrasp_policy::eval::LoadedPolicy;
use regrasp_policy::inference::Scratch;
use regrasp_policy::model::ActorCriticConfig;
use regrasp_policy::normalizer::RunningNorm;
use regrasp_sim::{ACTION_DIM, ArmModel, EnvConfig, ObsLayout};

fn arm() -> Arc<ArmModel> {
    Arc::new(ArmModel::default_arm().unwrap())
}

fn saved(name: &str) -> (PathBuf, Checkpoint) {
    let arm = arm();
    let obs_dim = ObsLayout::new(arm.dof()).len();
    let model = ActorCriticConfig::new(obs_dim, ACTION_DIM).with_hidden(32).init(4, &burn::prelude::Device::flex());
    let mut norm = RunningNorm::new(obs_dim);
    for i in 0..10 {
        norm.update(&(0..obs_dim).map(|k| (i * k) as f32 * 0.01).collect::<Vec<_>>());
    }
    let mut cfg = TrainConfig::default();
    cfg.model.hidden = 32;
    let c = Checkpoint::new(&model, vec![], norm, cfg, "init", None, (0, 123, 4), &arm).unwrap();
    let dir = std::env::temp_dir().join(format!("regrasp-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    c.save(&dir).unwrap();
    (dir, c)
}

/// Writes `bytes` as the checkpoint's model file and "fixes up" meta.json's file hash to match,
/// as a careless or malicious edit would.
fn replace_model_consistently(dir: &Path, bytes: &[u8]) {
    std::fs::write(dir.join("model.bpk"), bytes).unwrap();
    let meta_text = std::fs::read_to_string(dir.join("meta.json")).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&meta_text).unwrap();
    let mut h = regrasp_sim::hash::Fnv64::new();
    h.write(bytes);
    meta["file_hashes"]["model.bpk"] = serde_json::json!(format!("{:016x}", h.finish()));
    std::fs::write(dir.join("meta.json"), serde_json::to_string(&meta).unwrap()).unwrap();
}

fn load_err(dir: &Path) -> String {
    let obs_dim = ObsLayout::new(5).len();
    match LoadedPolicy::load(dir, &arm(), obs_dim) {
        Ok(_) => panic!("{} must be refused", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn round_trip_gives_identical_actions() {
    let (dir, c) = saved("roundtrip");
    let obs_dim = ObsLayout::new(5).len();
    let original = LoadedPolicy::from_checkpoint(&c).unwrap();
    let loaded = LoadedPolicy::load(&dir, &arm(), obs_dim).unwrap();
    assert_eq!(loaded.hash, c.meta.content_hash);
    let limits = EnvConfig::default().action;
    let (mut s1, mut s2) = (Scratch::default(), Scratch::default());
    for k in 0..50 {
        let obs: Vec<f32> = (0..obs_dim).map(|i| ((i * 7 + k * 13) % 17) as f32 * 0.1 - 0.8).collect();
        let a = original.act(&obs, &limits, &mut s1).unwrap();
        let b = loaded.act(&obs, &limits, &mut s2).unwrap();
        assert_eq!(a, b, "actions differ after a round trip");
    }
    // The metadata survives too.
    let back = Checkpoint::load(&dir).unwrap();
    assert_eq!(back.meta, c.meta);
    assert_eq!(back.meta.env_steps, 123);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_content_hash_identifies_the_policy_not_the_encoding() {
    let (d1, a) = saved("hash1");
    let (d2, b) = saved("hash2");
    // Same weights, normaliser and config: same identity, even though burn's record bytes embed
    // per-run parameter ids.
    assert_eq!(a.meta.content_hash, b.meta.content_hash);
    std::fs::remove_dir_all(d1).ok();
    std::fs::remove_dir_all(d2).ok();
}

#[test]
fn missing_directory_or_files_are_named() {
    let e = load_err(Path::new("/nonexistent/ckpt"));
    assert!(e.contains("/nonexistent/ckpt") && e.contains("not a checkpoint directory"), "{e}");
    let (dir, _) = saved("missing");
    std::fs::remove_file(dir.join("normalizer.json")).unwrap();
    let e = load_err(&dir);
    assert!(e.contains("normalizer.json"), "{e}");
    std::fs::remove_file(dir.join("meta.json")).unwrap();
    let e = load_err(&dir);
    assert!(e.contains("meta.json"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn truncated_or_altered_files_are_refused() {
    let (dir, _) = saved("truncated");
    let model = std::fs::read(dir.join("model.bpk")).unwrap();
    std::fs::write(dir.join("model.bpk"), &model[..model.len() / 2]).unwrap();
    let e = load_err(&dir);
    assert!(e.contains("model.bpk") && e.contains("truncated or altered"), "{e}");

    // A flipped weight byte, with meta.json's file hash "fixed up" to match: the content hash
    // (the identity of the weights) still catches it.
    let mut altered = model.clone();
    let k = altered.len() - 9;
    altered[k] ^= 0x40;
    replace_model_consistently(&dir, &altered);
    let e = load_err(&dir);
    assert!(e.contains("content hash") || e.contains("model.bpk"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn garbage_model_file_is_an_error_not_a_panic() {
    let (dir, _) = saved("garbage");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    replace_model_consistently(&dir, &garbage);
    let e = load_err(&dir);
    assert!(e.contains("model.bpk"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn unknown_format_version_is_refused() {
    let (dir, _) = saved("version");
    let text = std::fs::read_to_string(dir.join("meta.json")).unwrap();
    let text = text.replace(&format!("\"format_version\": {FORMAT_VERSION}"), "\"format_version\": 999");
    std::fs::write(dir.join("meta.json"), text).unwrap();
    let e = load_err(&dir);
    assert!(e.contains("format_version 999"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_checkpoint_for_another_observation_size_or_arm_is_refused() {
    let (dir, _) = saved("mismatch");
    let a = arm();
    match LoadedPolicy::load(&dir, &a, 44) {
        Err(PolicyError::Mismatch { what, .. }) => assert_eq!(what, "observation length"),
        other => panic!("expected a mismatch, got {other:?}"),
    }
    let other_arm = ArmModel::from_strs(
        &regrasp_sim::arm::DEFAULT_URDF.replace("effort=\"4.0\"", "effort=\"4.5\""),
        "other.urdf",
        regrasp_sim::arm::DEFAULT_PROFILE,
        "other.toml",
    )
    .unwrap();
    let e = LoadedPolicy::load(&dir, &other_arm, ObsLayout::new(5).len()).unwrap_err().to_string();
    assert!(e.contains("arm description hash"), "{e}");
    // A policy made for regrasp-arm5 on the SO-101: the same observation length (both have 5
    // arm joints), refused by name.
    let so101 = ArmModel::named("so101").unwrap();
    assert_eq!(ObsLayout::new(so101.dof()).len(), ObsLayout::new(a.dof()).len());
    let e = LoadedPolicy::load(&dir, &so101, ObsLayout::new(so101.dof()).len()).unwrap_err().to_string();
    assert!(e.contains("arm description hash") && e.contains("so101") && e.contains("regrasp-arm5"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn shipped_example_train_config_documents_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/train.toml");
    let c = TrainConfig::from_path(Path::new(path)).unwrap();
    assert_eq!(c, TrainConfig::default(), "examples/train.toml drifted from TrainConfig::default()");
    let e = TrainConfig::parse("envs = 0\n", "t.toml").unwrap_err().to_string();
    assert!(e.contains("t.toml") && e.contains("envs") && e.contains("[1, 1024]"), "{e}");
    let e = TrainConfig::parse("[ppo]\nclip = 2.0\n", "t.toml").unwrap_err().to_string();
    assert!(e.contains("ppo.clip"), "{e}");
    let e = TrainConfig::parse("[ppo]\nclipp = 0.1\n", "t.toml").unwrap_err().to_string();
    assert!(e.contains("clipp"), "{e}");
}

#[test]
fn shipped_finetune_config_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/finetune.toml");
    let c = TrainConfig::from_path(Path::new(path)).unwrap();
    assert!(c.ppo.learning_rate < TrainConfig::default().ppo.learning_rate);
    assert_eq!(c.rollout_steps, 256);
}

#[test]
fn the_shipped_finetune_config_takes_each_arms_exploration_noise() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/finetune.toml"));
    let arm5 = TrainConfig::from_path_for(path, &ArmModel::named("regrasp-arm5").unwrap().task).unwrap();
    let so101 = TrainConfig::from_path_for(path, &ArmModel::named("so101").unwrap().task).unwrap();
    // regrasp-arm5's wider gripper noise (session 30); the SO-101's one value, written as a number
    // as in the config of its checkpoint d576cbed65965284 (session 29).
    assert_eq!(arm5.bc.finetune_log_std, LogStd::PerDimension([-2.0, -2.0, -2.0, -2.0, -0.5]));
    assert_eq!(so101.bc.finetune_log_std, LogStd::Uniform(-2.0));
    assert!(toml::to_string(&so101).unwrap().contains("finetune_log_std = -2.0\n"));
    // A config that sets the noise overrides the arm's.
    let own = std::env::temp_dir().join(format!("regrasp-own-noise-{}.toml", std::process::id()));
    std::fs::write(&own, "[bc]\nfinetune_log_std = -1.0\n").unwrap();
    let c = TrainConfig::from_path_for(&own, &ArmModel::named("so101").unwrap().task);
    let _ = std::fs::remove_file(&own);
    assert_eq!(c.unwrap().bc.finetune_log_std, LogStd::Uniform(-1.0));
}
