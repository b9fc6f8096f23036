//! Replay is exact, recordings decode with rerun's own reader, and altered records are caught.

use std::path::PathBuf;
use std::sync::Arc;

use regrasp_logs::{
    LogsError, Recorder, Sampling, Sink, StoredEpisode, paths, read_episodes, replay_all, replay_episode,
};
use regrasp_policy::eval::{EpisodeId, EpisodeMetrics, EpisodeRecord};
use regrasp_sim::replay::Divergence;
use regrasp_sim::scripted::ScriptedParams;
use regrasp_sim::suite::EvalSuite;
use regrasp_sim::vec_env::run_expert_episode;
use regrasp_sim::{ArmModel, EnvConfig, GraspEnv, Scenario, ScenarioDistribution};

fn world() -> (Arc<ArmModel>, Arc<EnvConfig>) {
    (Arc::new(ArmModel::default_arm().unwrap()), Arc::new(EnvConfig::default()))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("regrasp-logs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Episodes of the state-driven expert on varied scenarios: training draws and out-of-
/// distribution objects (tiny, large, heavy, slippery), so successes and failures both occur.
fn stored(n_train: u64, n_ood: usize) -> Vec<StoredEpisode> {
    let (arm, cfg) = world();
    let mut env = GraspEnv::new(arm, cfg).unwrap();
    let dist = ScenarioDistribution::default();
    let ood = EvalSuite::load("ood", &regrasp_sim::Task::default()).unwrap().scenarios();
    let step = (ood.len() / n_ood.max(1)).max(1);
    let scenarios: Vec<Scenario> =
        (0..n_train).map(|i| dist.sample(7000 + i)).chain(ood.into_iter().step_by(step).take(n_ood)).collect();
    scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let e = run_expert_episode(&mut env, s, ScriptedParams::default()).unwrap();
            StoredEpisode {
                id: EpisodeId::in_run("expert", "test", i),
                record: EpisodeRecord {
                    scenario: *s,
                    policy_hash: "expert".into(),
                    actions: e.actions,
                    final_state_hash: e.final_state_hash,
                    outcome: e.outcome,
                    metrics: EpisodeMetrics::default(),
                },
            }
        })
        .collect()
}

#[test]
fn replay_reproduces_many_varied_episodes_bit_for_bit() {
    let (arm, cfg) = world();
    let episodes = stored(12, 8);
    assert!(episodes.iter().any(|e| e.record.outcome.kind.is_failure()), "the set should include failures");
    assert!(episodes.iter().any(|e| !e.record.outcome.kind.is_failure()));
    // Each replay, one by one and all at once on every core, ends in the stored state.
    let mut env = GraspEnv::new(Arc::clone(&arm), Arc::clone(&cfg)).unwrap();
    for e in &episodes {
        let r = replay_episode(&mut env, e, None, None).unwrap();
        assert_eq!(r.final_state_hash, e.record.final_state_hash, "{}", e.id);
        assert_eq!(r.outcome, e.record.outcome, "{}", e.id);
    }
    let all = replay_all(&arm, &cfg, &episodes, &[], &Recorder::off()).unwrap();
    assert_eq!(all.len(), episodes.len());
}

#[test]
fn a_recording_decodes_with_rerun_and_holds_the_scene_and_signals() {
    let (arm, cfg) = world();
    let dir = tmp("rrd");
    let file = dir.join("rerun").join("replay.rrd");
    let episodes = stored(2, 1);
    {
        let rec = Recorder::new("test", Sink::File(file.clone())).unwrap();
        let r = replay_all(&arm, &cfg, &episodes, &[], &rec).unwrap();
        // Recording changes nothing about the simulation.
        for (r, e) in r.iter().zip(&episodes) {
            assert_eq!(r.final_state_hash, e.record.final_state_hash);
        }
        rec.training(1000, &Default::default());
        let g = regrasp_logs::scalars::GenerationLog {
            generation: 1,
            success: [("heldout".to_string(), (0.75, 0.8))].into_iter().collect(),
            composition: vec![("replay".into(), 0.6), ("uniform".into(), 0.4)],
            parameters: vec![("mass_kg".into(), vec![0.1, 0.2, 0.3])],
            failures: [("slip_during_lift".to_string(), 3)].into_iter().collect(),
            promoted: true,
            reasons: "all checks passed".into(),
        };
        rec.generation(&g);
        let names = vec!["shoulder".to_string()];
        rec.hardware_tick(5, 0.1, &names, &[0.2], &[0.19]);
        rec.hardware_event(false, "velocity clamped");
        rec.flush().unwrap();
    }
    let c = regrasp_logs::rrd::read_rrd(&file).unwrap();
    let has = |p: &str| c.entity_paths.contains(&format!("/{p}"));
    for p in [
        paths::TABLE,
        paths::OBJECT,
        paths::CONTACTS,
        paths::CONTACT_FORCES,
        paths::TOOL_TARGET,
        paths::TOOL_IK,
        paths::OUTCOME,
        paths::SCENARIO,
    ] {
        assert!(has(p), "{p} missing from {:?}", c.entity_paths);
    }
    for link in &arm.link_names {
        assert!(has(&format!("{}/{link}", paths::ARM)), "link {link} missing from {:?}", c.entity_paths);
    }
    assert!(has(paths::ACTION_TAKEN), "actions missing");
    assert!(has(&format!("{}/reward", paths::EPISODE_SIGNALS)));
    assert!(has(&format!("{}/entropy", paths::TRAIN_LOSSES)));
    for p in [
        format!("{}/heldout/challenger", paths::IMPROVE_SUCCESS),
        format!("{}/slip_during_lift", paths::IMPROVE_FAILURES),
        paths::IMPROVE_CURRICULUM.to_string(),
        format!("{}/mass_kg", paths::IMPROVE_PARAMS),
        paths::IMPROVE_DECISIONS.to_string(),
        format!("{}/shoulder/measured", paths::HW_JOINTS),
        paths::HW_EVENTS.to_string(),
    ] {
        assert!(has(&p), "{p} missing from {:?}", c.entity_paths);
    }
    for t in ["frame", "episode", "env_steps", "generation", "tick", "session_time"] {
        assert!(c.timelines.contains(t), "timeline {t} missing from {:?}", c.timelines);
    }
    assert!(c.has_blueprint, "the default blueprint is stored with the recording");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn tampered_episodes_are_detected() {
    let (arm, cfg) = world();
    let mut env = GraspEnv::new(arm, cfg).unwrap();
    let original = stored(1, 0).remove(0);
    let check = |e: &StoredEpisode, env: &mut GraspEnv| replay_episode(env, e, None, None);
    assert!(check(&original, &mut env).is_ok());

    // One action nudged by a hair.
    let mut e = original.clone();
    e.record.actions[10].translation[0] += 1e-4;
    let hash = |r: Result<_, LogsError>| matches!(r, Err(LogsError::Diverged { source: Divergence::Hash { .. }, .. }));
    assert!(hash(check(&e, &mut env)), "altered action");
    // The scenario's object moved by a millimetre.
    let mut e = original.clone();
    e.record.scenario.object.pose.x += 1e-3;
    assert!(hash(check(&e, &mut env)), "altered scenario");
    // The stored hash itself altered.
    let mut e = original.clone();
    e.record.final_state_hash ^= 1;
    let err = check(&e, &mut env).unwrap_err();
    assert!(
        matches!(err, LogsError::Diverged { source: Divergence::Hash { .. }, .. })
            && err.to_string().contains("diverged"),
        "{err}"
    );
    // The last actions cut off: the episode never reaches its outcome.
    let mut e = original.clone();
    e.record.actions.truncate(e.record.actions.len() / 2);
    assert!(hash(check(&e, &mut env)), "truncated actions end in another state");
    // Actions appended past the outcome.
    let mut e = original.clone();
    e.record.actions.push(regrasp_sim::Action::HOLD_OPEN);
    let err = check(&e, &mut env).unwrap_err();
    assert!(matches!(err, LogsError::Diverged { source: Divergence::ActionsAfterOutcome { .. }, .. }), "{err}");
    // A NaN action is refused by the simulation, not replayed.
    let mut e = original.clone();
    e.record.actions[3].yaw = f32::NAN;
    assert!(matches!(check(&e, &mut env), Err(LogsError::Sim(_))), "NaN action");
}

#[test]
fn a_broken_episode_file_names_the_file_and_line() {
    let dir = tmp("badfile");
    let f = dir.join("episodes.jsonl");
    let good = serde_json::to_string(&stored(1, 0)[0].record).unwrap();
    std::fs::write(&f, format!("{good}\n{{\"scenario\": 3}}\n")).unwrap();
    let err = read_episodes(&f).unwrap_err().to_string();
    assert!(err.contains("episodes.jsonl") && err.contains("line 2"), "{err}");
    let err = read_episodes(&dir.join("missing.jsonl")).unwrap_err().to_string();
    assert!(err.contains("missing.jsonl"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn histograms_count_every_value_once() {
    let values = [0.0, 0.1, 0.5, 0.99, 1.0, f64::NAN];
    let (lo, hi, counts) = regrasp_logs::scalars::histogram(&values, 4);
    assert_eq!((lo, hi), (0.0, 1.0));
    assert_eq!(counts, vec![2.0, 0.0, 1.0, 2.0]);
    let (_, _, empty) = regrasp_logs::scalars::histogram(&[], 3);
    assert_eq!(empty, vec![0.0; 3]);
}

#[test]
fn sampling_takes_failures_first_then_every_nth_within_the_limit() {
    let mut eps = stored(1, 0);
    let base = eps.remove(0).record;
    let mut records = Vec::new();
    for i in 0..30 {
        let mut r = base.clone();
        r.outcome.kind =
            if i % 7 == 3 { regrasp_sim::OutcomeKind::SlipDuringLift } else { regrasp_sim::OutcomeKind::Success };
        records.push(r);
    }
    let failures: Vec<usize> = (0..30).filter(|i| i % 7 == 3).collect();
    let s = Sampling { every_nth: 10, failures: true, limit: 0 };
    assert_eq!(s.select(&records), vec![0, 3, 10, 17, 20, 24]);
    let s = Sampling { every_nth: 0, failures: true, limit: 2 };
    assert_eq!(s.select(&records), failures[..2].to_vec());
    assert!(Sampling::NONE.select(&records).is_empty());
    let s = Sampling { every_nth: 1, failures: false, limit: 0 };
    assert_eq!(s.select(&records).len(), 30);
}
