//! The dense shaped reward, per control step:
//!
//! ```text
//! r = w_reach · (1 − tanh(10 · d))          d: tool-to-object distance (m)
//!   + w_grasp · [both fingers touch the object]
//!   + w_lift  · [held] · clamp(lift / success_lift, 0, 1)
//!   − w_action · ‖a‖²                        a: the normalised action in [−1, 1]⁵
//!   + success_bonus   on the step that ends in Success
//!   − failure_penalty on the step that ends in any failure but Timeout
//! ```
//! Timeout carries no penalty: running out of time is already the absence of the bonus.

use serde::{Deserialize, Serialize};

use crate::error::{check_range, Result};
use crate::outcome::OutcomeKind;

/// Reward weights (dimensionless).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RewardWeights {
    /// Reaching term weight.
    pub reach: f64,
    /// Both-finger contact weight.
    pub grasp: f64,
    /// Lift progress weight.
    pub lift: f64,
    /// Squared-action penalty weight.
    pub action: f64,
    /// Bonus on success.
    pub success_bonus: f64,
    /// Penalty on a failure other than timeout.
    pub failure_penalty: f64,
}

impl Default for RewardWeights {
    fn default() -> Self {
        Self { reach: 0.1, grasp: 0.25, lift: 1.0, action: 0.01, success_bonus: 10.0, failure_penalty: 2.0 }
    }
}

impl RewardWeights {
    /// Checks the ranges.
    pub fn validate(&self, src: &str) -> Result<()> {
        for (f, v) in [
            ("reward.reach", self.reach),
            ("reward.grasp", self.grasp),
            ("reward.lift", self.lift),
            ("reward.action", self.action),
            ("reward.success_bonus", self.success_bonus),
            ("reward.failure_penalty", self.failure_penalty),
        ] {
            check_range(src, f, v, 0.0, 1e3, "")?;
        }
        Ok(())
    }

    /// The reward of one control step.
    ///
    /// `distance`: tool to object centre (m); `held`: both fingers touch the object; `lift`:
    /// object height above its start (m); `success_lift`: the success height (m);
    /// `action_sq`: squared norm of the normalised action; `outcome`: the outcome decided on
    /// this step, if any.
    pub fn reward(
        &self,
        distance: f64,
        held: bool,
        lift: f64,
        success_lift: f64,
        action_sq: f64,
        outcome: Option<OutcomeKind>,
    ) -> f64 {
        let mut r = self.reach * (1.0 - (10.0 * distance).tanh());
        if held {
            r += self.grasp + self.lift * (lift / success_lift).clamp(0.0, 1.0);
        }
        r -= self.action * action_sq;
        match outcome {
            Some(OutcomeKind::Success) => r += self.success_bonus,
            Some(OutcomeKind::Timeout) | None => {}
            Some(_) => r -= self.failure_penalty,
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closer_held_higher_is_better() {
        let w = RewardWeights::default();
        let far = w.reward(0.3, false, 0.0, 0.1, 0.0, None);
        let near = w.reward(0.01, false, 0.0, 0.1, 0.0, None);
        let held = w.reward(0.01, true, 0.0, 0.1, 0.0, None);
        let lifted = w.reward(0.01, true, 0.05, 0.1, 0.0, None);
        assert!(far < near && near < held && held < lifted);
        assert!(w.reward(0.0, true, 0.1, 0.1, 0.0, Some(OutcomeKind::Success)) > 10.0);
        assert!(w.reward(0.0, false, 0.0, 0.1, 0.0, Some(OutcomeKind::TableCollision)) < 0.0);
        assert_eq!(
            w.reward(0.05, false, 0.0, 0.1, 0.0, Some(OutcomeKind::Timeout)),
            w.reward(0.05, false, 0.0, 0.1, 0.0, None)
        );
    }
}
