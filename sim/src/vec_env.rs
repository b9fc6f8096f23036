//! Vectorised envs stepped in parallel with rayon. Each env owns its world and RNG, so results
//! are identical whatever the thread count; and whole-episode runners over many scenarios.

use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::arm::ArmModel;
use crate::config::EnvConfig;
use crate::env::{GraspEnv, Step};
use crate::error::Result;
use crate::outcome::Outcome;
use crate::scenario::Scenario;
use crate::scripted::{ScriptedGrasp, ScriptedParams};

/// A batch of envs.
pub struct VecEnv {
    envs: Vec<GraspEnv>,
}

impl VecEnv {
    /// `n` envs sharing one arm and config.
    pub fn new(arm: Arc<ArmModel>, cfg: Arc<EnvConfig>, n: usize) -> Result<Self> {
        let envs = (0..n).map(|_| GraspEnv::new(Arc::clone(&arm), Arc::clone(&cfg))).collect::<Result<_>>()?;
        Ok(Self { envs })
    }

    /// Number of envs.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Whether there are no envs.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The envs.
    pub fn envs(&self) -> &[GraspEnv] {
        &self.envs
    }

    /// The envs, mutably.
    pub fn envs_mut(&mut self) -> &mut [GraspEnv] {
        &mut self.envs
    }

    /// Resets env `i` with `scenarios[i]`, in parallel.
    pub fn reset(&mut self, scenarios: &[Scenario]) -> Vec<Result<Vec<f32>>> {
        self.envs.par_iter_mut().zip(scenarios.par_iter()).map(|(e, s)| e.reset(s)).collect()
    }

    /// Steps env `i` with `actions[i]`, in parallel.
    pub fn step(&mut self, actions: &[Action]) -> Vec<Result<Step>> {
        self.envs.par_iter_mut().zip(actions.par_iter()).map(|(e, a)| e.step(a)).collect()
    }

    /// Hashes of every env's state.
    pub fn state_hashes(&self) -> Vec<u64> {
        self.envs.iter().map(|e| e.state_hash()).collect()
    }
}

/// Summary of one finished episode.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpisodeSummary {
    /// The scenario's seed.
    pub seed: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Control steps taken.
    pub steps: u32,
    /// Sum of rewards.
    pub episode_return: f64,
    /// Hash of the final state.
    pub final_state_hash: u64,
    /// The actions given, in order (the episode is `scenario` + these).
    pub actions: Vec<Action>,
}

/// FNV-1a over the final state hash of every episode, in order: equal digests mean two builds
/// (or two runs) simulated every episode to the same bits.
pub fn final_states_digest(episodes: &[EpisodeSummary]) -> u64 {
    let mut digest = crate::hash::Fnv64::new();
    episodes.iter().for_each(|e| digest.write_u64(e.final_state_hash));
    digest.finish()
}

/// Runs one episode of `scenario`, asking `controller` for each action from the privileged state.
pub fn run_episode_with(
    env: &mut GraspEnv,
    scenario: &Scenario,
    mut controller: impl FnMut(&crate::env::Privileged, &crate::config::ActionLimits) -> Action,
) -> Result<EpisodeSummary> {
    env.reset(scenario)?;
    let limits = env.config().action;
    let mut actions = Vec::new();
    let mut ret = 0.0;
    loop {
        let p = env.privileged().ok_or(crate::error::SimError::NotRunning("no episode"))?;
        let a = controller(&p, &limits);
        let step = env.step(&a)?;
        actions.push(a);
        ret += step.reward;
        if let Some(outcome) = step.outcome {
            return Ok(EpisodeSummary {
                seed: scenario.seed,
                outcome,
                steps: actions.len() as u32,
                episode_return: ret,
                final_state_hash: env.state_hash(),
                actions,
            });
        }
    }
}

/// Runs the scripted grasp on one scenario.
pub fn run_scripted_episode(env: &mut GraspEnv, scenario: &Scenario, params: ScriptedParams) -> Result<EpisodeSummary> {
    let mut ctl = ScriptedGrasp::new(scenario, env.arm(), params);
    run_episode_with(env, scenario, |p, limits| ctl.act(p, limits))
}

/// Runs the state-driven [`crate::scripted::Expert`] on one scenario.
pub fn run_expert_episode(env: &mut GraspEnv, scenario: &Scenario, params: ScriptedParams) -> Result<EpisodeSummary> {
    let expert = crate::scripted::Expert::new(scenario, env.arm(), params);
    run_episode_with(env, scenario, |p, limits| expert.act(scenario, p, limits))
}

pub use crate::replay::replay;

/// Runs the scripted grasp on every scenario on `threads` threads (0 = all cores); results are
/// in scenario order and independent of the thread count.
pub fn run_scripted(
    arm: Arc<ArmModel>,
    cfg: Arc<EnvConfig>,
    scenarios: &[Scenario],
    threads: usize,
    on_done: &(dyn Fn() + Sync),
) -> Result<Vec<EpisodeSummary>> {
    run_controller(arm, cfg, scenarios, threads, on_done, false)
}

/// Runs the scripted grasp (`expert = false`) or the state-driven expert on every scenario,
/// like [`run_scripted`].
pub fn run_controller(
    arm: Arc<ArmModel>,
    cfg: Arc<EnvConfig>,
    scenarios: &[Scenario],
    threads: usize,
    on_done: &(dyn Fn() + Sync),
    expert: bool,
) -> Result<Vec<EpisodeSummary>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| crate::error::SimError::invalid("threads", "threads", e.to_string()))?;
    pool.install(|| {
        scenarios
            .par_iter()
            .map_init(
                || GraspEnv::new(Arc::clone(&arm), Arc::clone(&cfg)),
                |env, s| {
                    let env =
                        env.as_mut().map_err(|e| crate::error::SimError::invalid("env", "config", e.to_string()))?;
                    let r = if expert {
                        run_expert_episode(env, s, ScriptedParams::default())
                    } else {
                        run_scripted_episode(env, s, ScriptedParams::default())
                    };
                    on_done();
                    r
                },
            )
            .collect()
    })
}
