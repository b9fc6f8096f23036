//! PPO solves a tiny deterministic task, and training is reproducible.

use regrasp_policy::config::TrainConfig;
use regrasp_policy::envs::{Environment, PointReach};
use regrasp_policy::inference::Scratch;
use regrasp_policy::ppo::Trainer;

fn toy_config(seed: u64) -> TrainConfig {
    let mut c =
        TrainConfig { seed, envs: 8, rollout_steps: 40, total_env_steps: 8 * 40 * 60, ..TrainConfig::default() };
    c.model.hidden = 32;
    c.model.init_log_std = -0.5;
    c.ppo.minibatch = 64;
    c.ppo.learning_rate = 3e-3;
    c.ppo.final_learning_rate = 1e-3;
    c.ppo.epochs = 8;
    c
}

fn final_errors(t: &Trainer<PointReach>) -> Vec<f32> {
    let mut out = Vec::new();
    for seed in 0..4u64 {
        let mut env = PointReach::default();
        let mut obs = env.reset(seed).unwrap();
        let mut s = Scratch::default();
        let mut last = 0.0;
        for _ in 0..PointReach::STEPS {
            let a = t.net().act(t.normalizer(), &obs, &mut s);
            let tr = env.step(&a).unwrap();
            last = -tr.reward;
            obs = tr.obs;
        }
        out.push(last);
    }
    out
}

#[test]
fn ppo_solves_point_reach() {
    let cfg = toy_config(3);
    let envs = (0..cfg.envs).map(|_| PointReach::default()).collect();
    let mut t = Trainer::new(cfg, envs).unwrap();
    let before = final_errors(&t);
    let mut first_return = None;
    let mut last = None;
    while !t.done() {
        let s = t.iterate().unwrap();
        first_return.get_or_insert(s.mean_return);
        last = Some(s);
    }
    let after = final_errors(&t);
    let last = last.unwrap();
    assert!(before.iter().any(|e| *e > 0.3), "the untrained policy should not already solve it: {before:?}");
    assert!(after.iter().all(|e| *e < 0.05), "PPO did not solve the task: final errors {after:?}");
    assert!(last.mean_return > first_return.unwrap(), "return did not improve");
}
