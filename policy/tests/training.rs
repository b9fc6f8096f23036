//! Real training on the grasping task: a short run on an easy scenario raises success
//! measurably; resuming from a checkpoint continues exactly like an uninterrupted run; training
//! draws only training seeds.

use std::sync::Arc;

use regrasp_policy::bc::{behaviour_clone, collect_demos};
use regrasp_policy::checkpoint::Checkpoint;
use regrasp_policy::config::TrainConfig;
use regrasp_policy::eval::{evaluate, LoadedPolicy};
use regrasp_policy::model::ActorCriticConfig;
use regrasp_policy::normalizer::RunningNorm;
use regrasp_policy::run::{latest, train, RunOptions};
use regrasp_sim::scenario::{Interval, ScenarioDistribution, ShapeKind};
use regrasp_sim::suite::SeedSpace;
use regrasp_sim::{ArmModel, EnvConfig, ObsLayout, ACTION_DIM};

fn arm() -> Arc<ArmModel> {
    Arc::new(ArmModel::default_arm().unwrap())
}

/// One 4 cm box about 20 cm in front of the arm, no perturbations: an easy scenario.
fn easy() -> ScenarioDistribution {
    let fixed = |v: f64| Interval::new(v, v);
    ScenarioDistribution {
        shapes: vec![ShapeKind::Box],
        size: Interval::new(0.038, 0.042),
        mass: fixed(0.1),
        friction: fixed(0.9),
        radius: Interval::new(0.195, 0.205),
        azimuth: Interval::new(-0.05, 0.05),
        yaw: Interval::new(-0.1, 0.1),
        lying_probability: 0.0,
        tool_offset: fixed(0.0),
        tool_yaw: fixed(0.0),
        friction_scale: fixed(1.0),
        gripper_force_scale: fixed(1.0),
        joint_damping_scale: fixed(1.0),
        observation_noise: fixed(0.0),
        action_latency_max: 0,
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("regrasp-policy-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_short_training_run_on_an_easy_scenario_raises_success() {
    let arm = arm();
    let env = Arc::new(EnvConfig::default());
    let dist = easy();
    let obs_dim = ObsLayout::new(arm.dof()).len();
    // Evaluation scenarios come from the held-out seed space: never trained on.
    let (h0, _) = SeedSpace::Heldout.range();
    let test: Vec<_> = (0..12).map(|i| dist.sample(h0 + i)).collect();
    let cfg = TrainConfig { distribution: dist.clone(), ..TrainConfig::default() };
    let model = ActorCriticConfig::new(obs_dim, ACTION_DIM).with_hidden(cfg.model.hidden).init(1, &burn::prelude::Device::flex());
    let untrained =
        LoadedPolicy { net: model.to_inference(), norm: RunningNorm::new(obs_dim), hash: "untrained".into() };
    let (before, _) = evaluate(&untrained, &arm, &env, "easy", &test, &|| {}).unwrap();

    let seeds: Vec<u64> = (0..40).map(|i| SeedSpace::training_seed(5, i)).collect();
    let demos = collect_demos(&arm, &env, &dist, &seeds, 0.99).unwrap();
    assert!(demos.kept >= 38, "the scripted grasp should succeed on the easy scenario: {}/40", demos.kept);
    let mut bc = cfg.bc.clone();
    bc.epochs = 60;
    let (trained, norm, stats) = behaviour_clone(model, &demos, &bc, 5).unwrap();
    assert!(stats.final_action_mse < 0.05, "{stats:?}");
    let policy = LoadedPolicy { net: trained.to_inference(), norm, hash: "bc".into() };
    let (after, _) = evaluate(&policy, &arm, &env, "easy", &test, &|| {}).unwrap();
    assert_eq!(before.successes, 0, "an untrained policy does not grasp");
    // A measurable rise: at least 3 more successes out of 12 held-out scenarios.
    assert!(
        after.successes >= before.successes + 3,
        "behaviour cloning did not raise success measurably: {} -> {} of 12 ({:?})",
        before.successes,
        after.successes,
        after.outcomes
    );
}

fn tiny_config() -> TrainConfig {
    let mut c = TrainConfig { seed: 9, envs: 2, rollout_steps: 16, total_env_steps: 2 * 16 * 3, checkpoint_every: 1, ..TrainConfig::default() };
    c.model.hidden = 16;
    c.ppo.minibatch = 16;
    c.ppo.epochs = 2;
    c.distribution = easy();
    c
}

#[test]
fn resuming_from_a_checkpoint_equals_an_uninterrupted_run() {
    let arm = arm();
    let straight = tmp("straight");
    let a = train(tiny_config(), Arc::clone(&arm), &straight, RunOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(a.meta.iteration, 3);

    let crashed = tmp("crashed");
    let opts = RunOptions { max_iterations: Some(1), ..RunOptions::default() };
    let first = train(tiny_config(), Arc::clone(&arm), &crashed, opts, &mut |_| {}).unwrap();
    assert_eq!(first.meta.iteration, 1);
    let resumed = train(tiny_config(), Arc::clone(&arm), &crashed, RunOptions { resume: true, ..RunOptions::default() }, &mut |_| {}).unwrap();
    assert_eq!(resumed.meta.iteration, 3);
    assert_eq!(resumed.meta.env_steps, a.meta.env_steps);
    assert_eq!(resumed.meta.scenarios_drawn, a.meta.scenarios_drawn);
    let weights = |c: &Checkpoint| c.model(&burn::prelude::Device::flex()).unwrap().to_inference();
    assert!(weights(&resumed) == weights(&a), "resumed weights differ from the uninterrupted run");
    assert_eq!(resumed.normalizer, a.normalizer);
    assert_eq!(resumed.meta.content_hash, a.meta.content_hash);
    // Lineage: every checkpoint names its parent.
    let last = Checkpoint::load(&latest(&crashed).unwrap()).unwrap();
    assert!(last.meta.parent_hash.is_some());
    std::fs::remove_dir_all(straight).ok();
    std::fs::remove_dir_all(crashed).ok();
}

#[test]
fn training_draws_only_training_seeds_and_never_a_suite_seed() {
    use regrasp_sim::suite::EvalSuite;
    let mut used = std::collections::HashSet::new();
    for i in 0..20_000 {
        let s = SeedSpace::training_seed(tiny_config().seed, i);
        assert_eq!(SeedSpace::of(s), Some(SeedSpace::Train));
        used.insert(s);
    }
    for name in ["heldout", "ood"] {
        for sc in EvalSuite::load(name).unwrap().scenarios() {
            assert!(!used.contains(&sc.seed), "{name} seed {} was drawn by training", sc.seed);
            assert_ne!(SeedSpace::of(sc.seed), Some(SeedSpace::Train));
        }
    }
}
