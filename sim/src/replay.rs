//! Exact replay: the one engine that re-simulates a scenario with stored actions. A scenario
//! plus its actions reproduces every state bit for bit, so [`replay_exact`] checks a stored
//! episode against what it claims — every action taken (none after the outcome), the final
//! state hash, the outcome — and a [`ReplayObserver`] sees the state after the reset and
//! around every step. Recorders (rerun), viewers (bevy) and checks (`regrasp replay`) plug in
//! observers; none of them steps the simulation itself.

use crate::action::Action;
use crate::env::{GraspEnv, Step};
use crate::error::{Result, SimError};
use crate::outcome::{Outcome, OutcomeKind};
use crate::scenario::Scenario;

/// Sees a replay as it runs. Every method has a default that does nothing.
pub trait ReplayObserver {
    /// The episode was reset; `obs` is the first observation.
    fn on_reset(&mut self, _env: &GraspEnv, _obs: &[f32]) {}

    /// Step `k` (0-based) is about to take `action` from the state whose observation is `obs`.
    fn before_step(&mut self, _k: usize, _env: &GraspEnv, _obs: &[f32], _action: &Action) {}

    /// Step `k` was taken; `step` is what it returned.
    fn after_step(&mut self, _k: usize, _env: &GraspEnv, _step: &Step) {}
}

/// Observes nothing.
impl ReplayObserver for () {}

/// Why a stored episode did not reproduce.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Divergence {
    /// The episode ended before the stored actions ran out: the record does not come from
    /// this simulation.
    #[error("the record holds {stored} actions, but the episode ended after {ended_after}")]
    ActionsAfterOutcome {
        /// Steps taken when the outcome was reached.
        ended_after: usize,
        /// Actions stored.
        stored: usize,
    },
    /// The final state differs from the stored one.
    #[error(
        "replay diverged: final state hash {replayed:016x}, stored {stored:016x} (the record was altered, or the \
         code, arm or env config differs from the run that stored it)"
    )]
    Hash {
        /// Hash the replay ended in.
        replayed: u64,
        /// Hash the record stores.
        stored: u64,
    },
    /// The replay ended with another outcome than the stored one (or none).
    #[error("replay ended as {}, stored as {stored}", replayed.map_or("no outcome (the actions ran out)", |k| k.name()))]
    Outcome {
        /// Outcome reached, if any.
        replayed: Option<OutcomeKind>,
        /// Stored outcome.
        stored: OutcomeKind,
    },
}

/// What an exact replay reproduced.
#[derive(Clone, Debug, PartialEq)]
pub struct Replayed {
    /// Control steps replayed.
    pub steps: usize,
    /// Final state hash (equal to the stored one).
    pub final_state_hash: u64,
    /// The outcome reached (its kind equal to the stored one), with its evidence.
    pub outcome: Outcome,
}

/// Steps `actions` from `scenario` until they run out or an outcome is reached; returns the
/// steps taken and the outcome.
fn run(
    env: &mut GraspEnv,
    scenario: &Scenario,
    actions: &[Action],
    observer: &mut dyn ReplayObserver,
) -> Result<(usize, Option<Outcome>)> {
    let mut obs = env.reset(scenario)?;
    observer.on_reset(env, &obs);
    for (k, a) in actions.iter().enumerate() {
        observer.before_step(k, env, &obs, a);
        let step = env.step(a)?;
        observer.after_step(k, env, &step);
        if step.outcome.is_some() {
            return Ok((k + 1, step.outcome));
        }
        obs = step.obs;
    }
    Ok((actions.len(), None))
}

/// Replays a stored episode — `actions` from `scenario` — and checks it against what it
/// claims: every action is taken, the final state hash is `final_state_hash` and the outcome is
/// `outcome`. A difference is a [`SimError::Diverged`]; a NaN action is refused by the
/// simulation as in any episode.
pub fn replay_exact(
    env: &mut GraspEnv,
    scenario: &Scenario,
    actions: &[Action],
    final_state_hash: u64,
    outcome: OutcomeKind,
    observer: &mut dyn ReplayObserver,
) -> Result<Replayed> {
    let (steps, reached) = run(env, scenario, actions, observer)?;
    if steps < actions.len() {
        return Err(Divergence::ActionsAfterOutcome { ended_after: steps, stored: actions.len() }.into());
    }
    let hash = env.state_hash();
    if hash != final_state_hash {
        return Err(Divergence::Hash { replayed: hash, stored: final_state_hash }.into());
    }
    match reached {
        Some(o) if o.kind == outcome => Ok(Replayed { steps, final_state_hash: hash, outcome: o }),
        other => Err(Divergence::Outcome { replayed: other.map(|o| o.kind), stored: outcome }.into()),
    }
}

/// Replays `actions` on `scenario` without a record to check, stopping at the outcome; returns
/// the final state hash and the outcome, if reached.
pub fn replay(env: &mut GraspEnv, scenario: &Scenario, actions: &[Action]) -> Result<(u64, Option<Outcome>)> {
    let (_, outcome) = run(env, scenario, actions, &mut ())?;
    Ok((env.state_hash(), outcome))
}

impl From<Divergence> for SimError {
    fn from(d: Divergence) -> Self {
        SimError::Diverged(d)
    }
}
