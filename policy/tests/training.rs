//! Real training on the grasping task: a short run on an easy scenario raises success
//! measurably; resuming from a checkpoint continues exactly like an uninterrupted run; training
//! draws only training seeds.

use std::sync::Arc;

use regrasp_policy::bc::{behaviour_clone, collect_demos};
use regrasp_policy::checkpoint::Checkpoint;
use regrasp_policy::config::TrainConfig;
use regrasp_policy::envs::{LABEL_BOUND, expert_action};
use regrasp_policy::eval::{LoadedPolicy, evaluate};
use regrasp_policy::model::ActorCriticConfig;
use regrasp_policy::normalizer::RunningNorm;
use regrasp_policy::run::{RunOptions, latest, train};
use regrasp_sim::scenario::ScenarioDistribution;
use regrasp_sim::suite::SeedSpace;
use regrasp_sim::{ACTION_DIM, ArmModel, EnvConfig, ObsLayout};

fn arm() -> Arc<ArmModel> {
    Arc::new(ArmModel::default_arm().unwrap())
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
    let dist = ScenarioDistribution::easy_box();
    let obs_dim = ObsLayout::new(arm.dof()).len();
    // Evaluation scenarios come from the held-out seed space: never trained on.
    let (h0, _) = SeedSpace::Heldout.range();
    let test: Vec<_> = (0..12).map(|i| dist.sample(h0 + i)).collect();
    let mut cfg = TrainConfig { seed: 5, distribution: dist.clone(), total_env_steps: 0, ..TrainConfig::default() };
    cfg.bc.episodes = 40;
    cfg.bc.dagger_rounds = 3;
    cfg.bc.dagger_episodes = 30;
    let model = ActorCriticConfig::new(obs_dim, ACTION_DIM)
        .with_hidden(cfg.model.hidden)
        .init(1, &burn::prelude::Device::flex());
    let untrained =
        LoadedPolicy { net: model.to_inference(), norm: RunningNorm::new(obs_dim), hash: "untrained".into() };
    let (before, _) = evaluate(&untrained, &arm, &env, "easy", &test, &|| {}).unwrap();

    // The real pipeline: expert demonstrations, behaviour cloning, DAgger rounds.
    let out = tmp("easy");
    let mut kept = 0;
    let ckpt =
        train(cfg, Arc::clone(&arm), &out, RunOptions { warm_start_bc: true, ..RunOptions::default() }, &mut |e| {
            if let regrasp_policy::run::Event::BehaviourCloning { kept: k, .. } = e {
                kept = *k;
            }
        })
        .unwrap();
    assert!(kept >= 38, "the expert should succeed on the easy scenario: {kept}/40");
    let policy = LoadedPolicy::from_checkpoint(&ckpt).unwrap();
    let (after, _) = evaluate(&policy, &arm, &env, "easy", &test, &|| {}).unwrap();
    assert_eq!(before.successes, 0, "an untrained policy does not grasp");
    // A measurable rise: at least 6 more successes out of 12 held-out scenarios.
    assert!(
        after.successes >= before.successes + 6,
        "training did not raise success measurably: {} -> {} of 12 ({:?})",
        before.successes,
        after.successes,
        after.outcomes
    );
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn plain_behaviour_cloning_fits_the_demonstrations() {
    let arm = arm();
    let env = Arc::new(EnvConfig::default());
    let seeds: Vec<u64> = (0..20).map(|i| SeedSpace::training_seed(6, i)).collect();
    let demos = collect_demos(&arm, &env, &ScenarioDistribution::easy_box(), &seeds, 0.99).unwrap();
    assert!(demos.kept >= 19 && demos.len() > 500, "{} kept, {} samples", demos.kept, demos.len());
    let obs_dim = demos.obs_dim;
    let model = ActorCriticConfig::new(obs_dim, ACTION_DIM).with_hidden(64).init(1, &burn::prelude::Device::flex());
    let cfg = TrainConfig::default();
    let mut bc = cfg.bc.clone();
    bc.epochs = 1;
    let (_, _, first) = behaviour_clone(model.clone(), &demos, &bc, 6).unwrap();
    bc.epochs = 30;
    let (_, _, last) = behaviour_clone(model, &demos, &bc, 6).unwrap();
    assert!(last.final_action_mse < 0.5 * first.final_action_mse, "{first:?} -> {last:?}");
}

fn tiny_config() -> TrainConfig {
    let mut c = TrainConfig {
        seed: 9,
        envs: 2,
        rollout_steps: 16,
        total_env_steps: 2 * 16 * 3,
        checkpoint_every: 1,
        ..TrainConfig::default()
    };
    c.model.hidden = 16;
    c.ppo.minibatch = 16;
    c.ppo.epochs = 2;
    c.distribution = ScenarioDistribution::easy_box();
    c
}

#[test]
fn the_expert_labels_within_the_bound_and_refuses_a_state_before_an_episode() {
    let arm = arm();
    let mut env = regrasp_sim::GraspEnv::new(Arc::clone(&arm), Arc::new(EnvConfig::default())).unwrap();
    let scenario = ScenarioDistribution::default().sample(5);
    let expert = regrasp_sim::scripted::Expert::new(&scenario, &arm, Default::default());
    let e = expert_action(&expert, &env).unwrap_err().to_string();
    assert!(e.contains("no episode"), "{e}");
    env.reset(&scenario).unwrap();
    let limits = env.config().action;
    for _ in 0..30 {
        let (action, label) = expert_action(&expert, &env).unwrap();
        let normalised = action.to_normalized(&limits);
        for (l, n) in label.iter().zip(&normalised) {
            assert!(l.abs() <= LABEL_BOUND && (l - n.clamp(-LABEL_BOUND, LABEL_BOUND)).abs() == 0.0, "{label:?}");
        }
        env.step(&action).unwrap();
    }
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
    let resumed = train(
        tiny_config(),
        Arc::clone(&arm),
        &crashed,
        RunOptions { resume: true, ..RunOptions::default() },
        &mut |_| {},
    )
    .unwrap();
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
        for sc in EvalSuite::load(name, &regrasp_sim::Task::default()).unwrap().scenarios() {
            assert!(!used.contains(&sc.seed), "{name} seed {} was drawn by training", sc.seed);
            assert_ne!(SeedSpace::of(sc.seed), Some(SeedSpace::Train));
        }
    }
}
