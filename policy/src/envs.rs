//! The environments a policy trains on, behind one small trait: the grasping task over
//! `GraspEnv`, and `PointReach`, a tiny deterministic task that proves PPO itself works.

use std::sync::Arc;

use regrasp_sim::outcome::OutcomeKind;
use regrasp_sim::scripted::Expert;
use regrasp_sim::{ACTION_DIM, Action, ArmModel, EnvConfig, GraspEnv, ScenarioSource, SimError};

use crate::error::Result;

/// The largest magnitude of a normalised expert label: `tanh` reaches ±0.97 at ±2.1, while ±1
/// would need an infinite pre-activation.
pub const LABEL_BOUND: f32 = 0.97;

/// The state-driven grasp expert's action in the current state of `env`'s episode: the action
/// to execute (clipped to the action limits) and the label a learner regresses onto (the same,
/// normalised and clamped to ±[`LABEL_BOUND`]). Behaviour cloning and DAgger label through here.
pub fn expert_action(expert: &Expert, env: &GraspEnv) -> Result<(Action, [f32; ACTION_DIM])> {
    let (Some(scenario), Some(p)) = (env.scenario(), env.privileged()) else {
        return Err(SimError::NotRunning("no episode to label").into());
    };
    let limits = env.config().action;
    let action = expert.act(scenario, &p, &limits).clipped(&limits);
    let label = action.to_normalized(&limits).map(|v| v.clamp(-LABEL_BOUND, LABEL_BOUND));
    Ok((action, label))
}

/// One control step's result, in learning terms.
#[derive(Clone, Debug)]
pub struct Transition {
    /// Observation after the step (the first observation of nothing: the episode's last).
    pub obs: Vec<f32>,
    /// Reward of the step.
    pub reward: f32,
    /// The episode ended in a true terminal state (no bootstrapping).
    pub terminal: bool,
    /// The episode was cut by its time limit (bootstrap from `obs`).
    pub truncated: bool,
    /// The episode ended in success.
    pub success: bool,
}

/// An episodic task with normalised actions in [−1, 1]⁵ (values outside are clipped).
pub trait Environment: Send {
    /// Observation length.
    fn obs_dim(&self) -> usize;
    /// Starts an episode from a scenario seed.
    fn reset(&mut self, seed: u64) -> Result<Vec<f32>>;
    /// Applies a normalised action.
    fn step(&mut self, action: &[f32; ACTION_DIM]) -> Result<Transition>;
}

/// The grasping task: scenarios drawn by seed from a source (the training distribution, or a
/// curriculum).
pub struct GraspTask {
    env: GraspEnv,
    source: Arc<dyn ScenarioSource>,
}

impl GraspTask {
    /// A task over a new `GraspEnv`.
    pub fn new(arm: Arc<ArmModel>, cfg: Arc<EnvConfig>, source: Arc<dyn ScenarioSource>) -> Result<Self> {
        Ok(Self { env: GraspEnv::new(arm, cfg)?, source })
    }

    /// The underlying env.
    pub fn env(&self) -> &GraspEnv {
        &self.env
    }
}

impl Environment for GraspTask {
    fn obs_dim(&self) -> usize {
        self.env.obs_dim()
    }

    fn reset(&mut self, seed: u64) -> Result<Vec<f32>> {
        Ok(self.env.reset(&self.source.scenario(seed))?)
    }

    fn step(&mut self, action: &[f32; ACTION_DIM]) -> Result<Transition> {
        let a = Action::from_normalized(action, &self.env.config().action);
        let s = self.env.step(&a)?;
        let kind = s.outcome.as_ref().map(|o| o.kind);
        Ok(Transition {
            obs: s.obs,
            reward: s.reward as f32,
            terminal: kind.is_some_and(|k| k != OutcomeKind::Timeout),
            truncated: kind == Some(OutcomeKind::Timeout),
            success: kind == Some(OutcomeKind::Success),
        })
    }
}

/// A tiny deterministic task: move a point on a line to a target with the first action
/// component (0.1 per step); reward −|x − target|; 20 steps; success within 0.05 at the end.
#[derive(Clone, Debug, Default)]
pub struct PointReach {
    x: f32,
    target: f32,
    steps: u32,
}

impl PointReach {
    /// Episode length (steps).
    pub const STEPS: u32 = 20;
}

impl Environment for PointReach {
    fn obs_dim(&self) -> usize {
        2
    }

    fn reset(&mut self, seed: u64) -> Result<Vec<f32>> {
        // Targets at −0.8, −0.4, 0.4 or 0.8 by seed.
        self.target = [-0.8, -0.4, 0.4, 0.8][(seed % 4) as usize];
        self.x = 0.0;
        self.steps = 0;
        Ok(vec![self.x, self.target])
    }

    fn step(&mut self, action: &[f32; ACTION_DIM]) -> Result<Transition> {
        self.x += 0.1 * action[0].clamp(-1.0, 1.0);
        self.steps += 1;
        let err = (self.x - self.target).abs();
        let end = self.steps >= Self::STEPS;
        Ok(Transition {
            obs: vec![self.x, self.target],
            reward: -err,
            terminal: end,
            truncated: false,
            success: end && err < 0.05,
        })
    }
}
