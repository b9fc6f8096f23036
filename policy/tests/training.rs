//! Real training on the grasping task: a short run on an easy scenario raises success
//! measurably; resuming from a checkpoint continues exactly like an uninterrupted run; training
//! draws only training seeds; PPO's expert loss pulls the policy towards the expert.

use std::sync::Arc;

use regrasp_policy::bc::{behaviour_clone, collect_demos};
use regrasp_policy::checkpoint::Checkpoint;
use regrasp_policy::config::TrainConfig;
use regrasp_policy::envs::{Environment, GraspTask};
use regrasp_policy::eval::{LoadedPolicy, evaluate};
use regrasp_policy::model::ActorCriticConfig;
use regrasp_policy::normalizer::RunningNorm;
use regrasp_policy::ppo::Trainer;
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
fn ppo_labels_a_state_as_behaviour_cloning_does_and_refuses_before_an_episode() {
    let arm = arm();
    let dist = ScenarioDistribution::default();
    let env_cfg = Arc::new(EnvConfig::default());
    let source: Arc<dyn regrasp_sim::ScenarioSource> = Arc::new(dist.clone());
    let mut task = GraspTask::new(Arc::clone(&arm), Arc::clone(&env_cfg), source).unwrap();
    let e = task.expert_label().unwrap_err().to_string();
    assert!(e.contains("no episode"), "{e}");
    let mut compared = 0;
    for seed in [3u64, 17, 40] {
        // Only successful demonstrations are kept.
        let demos = collect_demos(&arm, &env_cfg, &dist, &[seed], 0.99).unwrap();
        if demos.is_empty() {
            continue;
        }
        compared += 1;
        task.reset(seed).unwrap();
        let label = task.expert_label().unwrap().unwrap();
        assert_eq!(&label[..], &demos.actions[..ACTION_DIM], "seed {seed}");
        assert!(label.iter().all(|v| v.abs() <= regrasp_policy::envs::LABEL_BOUND));
    }
    assert!(compared >= 2, "too few successful demonstrations to compare: {compared}");
}

#[test]
fn the_expert_loss_pulls_the_action_mean_towards_the_experts_actions() {
    let arm = arm();
    let run = |coef: f64| {
        let mut c = tiny_config();
        c.rollout_steps = 32;
        c.total_env_steps = 2 * 32 * 16;
        c.ppo.epochs = 4;
        c.ppo.learning_rate = 3e-3;
        c.ppo.final_learning_rate = 3e-3;
        c.ppo.expert_coef = coef;
        c.ppo.final_expert_coef = coef;
        let env_cfg = Arc::new(c.env.clone());
        let source: Arc<dyn regrasp_sim::ScenarioSource> = Arc::new(c.distribution.clone());
        let task = || GraspTask::new(Arc::clone(&arm), Arc::clone(&env_cfg), Arc::clone(&source)).unwrap();
        let mut t = Trainer::new(c, (0..2).map(|_| task()).collect()).unwrap();
        let mut stats = Vec::new();
        while !t.done() {
            stats.push(t.iterate().unwrap());
        }
        // DAgger's measure: the policy acts on its own (its mean), the expert labels every state
        // it visits; the mean squared difference over 40 steps of 3 episodes.
        let (mut sq, mut count) = (0.0f64, 0usize);
        let mut scratch = regrasp_policy::inference::Scratch::default();
        let mut env = task();
        for seed in [SeedSpace::training_seed(77, 0), SeedSpace::training_seed(77, 1), SeedSpace::training_seed(77, 2)]
        {
            let mut obs = env.reset(seed).unwrap();
            for _ in 0..40 {
                let label = env.expert_label().unwrap().unwrap();
                let a = t.net().act(t.normalizer(), &obs, &mut scratch);
                sq += a.iter().zip(&label).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>();
                count += ACTION_DIM;
                let tr = env.step(&a).unwrap();
                if tr.terminal || tr.truncated {
                    break;
                }
                obs = tr.obs;
            }
        }
        (stats, sq / count as f64)
    };
    let (pulled, pulled_gap) = run(20.0);
    assert!(pulled.iter().all(|s| s.expert_loss > 0.0 && s.expert_coef == 20.0), "{pulled:?}");
    let (plain, plain_gap) = run(0.0);
    // Without it nothing is labelled and nothing is pulled.
    assert!(plain.iter().all(|s| s.expert_loss == 0.0 && s.expert_coef == 0.0));
    assert!(pulled_gap < 0.5 * plain_gap, "gap to the expert: {pulled_gap} with the loss, {plain_gap} without");
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
