//! regrasp-arm5 keeps working bit for bit: episodes evaluated and stored by an earlier build
//! replay to their stored final state hashes and outcomes with the code of today, and a change
//! of the physics is caught, not absorbed.
//!
//! Two fixtures. `arm5-episodes-mass-once.jsonl`: a 500k-step fine-tuned policy
//! (5b52daee479b11b9, session 27) on the smoke held-out and OOD suites, 4 successes, 3 timeouts
//! and a table collision, stored after the rapier patch began to build the multibody's mass
//! matrix once per physics step (ARCHITECTURE.md, "The rapier patch", change 4).
//! `arm5-episodes-b2b953d.jsonl`: episodes stored by the code before grippers had kinds (commit
//! b2b953d) on the physics before that change; they replayed bit for bit until session 27 and
//! are kept to show that the change is detected.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use regrasp_policy::eval::file_episodes;
use regrasp_sim::replay::replay_exact;
use regrasp_sim::{ArmModel, EnvConfig, GraspEnv, OutcomeKind, SimError};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn env() -> GraspEnv {
    GraspEnv::new(Arc::new(ArmModel::default_arm().unwrap()), Arc::new(EnvConfig::default())).unwrap()
}

#[test]
fn arm5_episodes_stored_on_todays_physics_replay_bit_for_bit() {
    let episodes = file_episodes(&fixture("arm5-episodes-mass-once.jsonl")).unwrap();
    assert_eq!(episodes.len(), 8);
    let kinds: Vec<OutcomeKind> = episodes.iter().map(|e| e.record.outcome.kind).collect();
    assert!(kinds.contains(&OutcomeKind::Success) && kinds.contains(&OutcomeKind::Timeout), "{kinds:?}");
    let mut env = env();
    for e in &episodes {
        let r = &e.record;
        replay_exact(&mut env, &r.scenario, &r.actions, r.final_state_hash, r.outcome.kind, &mut ())
            .unwrap_or_else(|err| panic!("episode {}: {err}", e.id));
    }
}

/// The records of the physics before change 4 still load (the file format is unchanged since
/// b2b953d), and replaying them is a named divergence for every one: a physics change cannot
/// pass unnoticed.
#[test]
fn arm5_episodes_of_the_physics_before_the_mass_matrix_change_are_reported_as_diverged() {
    let episodes = file_episodes(&fixture("arm5-episodes-b2b953d.jsonl")).unwrap();
    assert_eq!(episodes.len(), 8);
    let mut env = env();
    for e in &episodes {
        let r = &e.record;
        match replay_exact(&mut env, &r.scenario, &r.actions, r.final_state_hash, r.outcome.kind, &mut ()) {
            Err(SimError::Diverged(_)) => {}
            other => panic!("episode {}: expected a divergence, got {other:?}", e.id),
        }
    }
}
