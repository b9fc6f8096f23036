//! regrasp-arm5 keeps working bit for bit: episodes evaluated and stored by the code before
//! grippers had kinds (commit b2b953d: a BC-warm-started policy on the smoke held-out and OOD
//! suites, 4 successes, 3 timeouts and a table collision) replay to their stored final state
//! hashes and outcomes with the code of today.

use std::path::Path;
use std::sync::Arc;

use regrasp_policy::eval::file_episodes;
use regrasp_sim::replay::replay_exact;
use regrasp_sim::{ArmModel, EnvConfig, GraspEnv, OutcomeKind};

#[test]
fn arm5_episodes_stored_before_gripper_kinds_replay_bit_for_bit() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arm5-episodes-b2b953d.jsonl");
    let episodes = file_episodes(&path).unwrap();
    assert_eq!(episodes.len(), 8);
    let kinds: Vec<OutcomeKind> = episodes.iter().map(|e| e.record.outcome.kind).collect();
    assert!(kinds.contains(&OutcomeKind::Success) && kinds.contains(&OutcomeKind::Timeout), "{kinds:?}");
    let mut env = GraspEnv::new(Arc::new(ArmModel::default_arm().unwrap()), Arc::new(EnvConfig::default())).unwrap();
    for e in &episodes {
        let r = &e.record;
        replay_exact(&mut env, &r.scenario, &r.actions, r.final_state_hash, r.outcome.kind, &mut ())
            .unwrap_or_else(|err| panic!("episode {}: {err}", e.id));
    }
}
