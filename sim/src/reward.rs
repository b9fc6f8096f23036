//! The reward: potential-based shaping (Ng, Harada & Russell, 1999) plus a success bonus and a
//! failure penalty, per control step:
//!
//! ```text
//! Φ(s) = w_reach · (1 − tanh(10 · d))                 d: tool-to-object distance (m)
//!      + [held] · (w_grasp + w_lift · clamp(lift / success_lift, 0, 1))
//! r    = γ · Φ(s′) − Φ(s)          (Φ(s′) = 0 when s′ ends the episode, except a timeout)
//!      − w_action · ‖a‖²           a: the normalised action in [−1, 1]⁵
//!      − w_table · min(F / F_c, 1)  F: arm–table contact force of the step (N), F_c: the
//!                                   classifier's collision force (`outcome.table_force`)
//!      + success_bonus             on the step that ends in Success
//!      − failure_penalty           on the step that ends in any failure but Timeout
//! ```
//!
//! The shaping guides learning (closer, then held, then higher is better at every step) but
//! cannot change which policy is optimal. An earlier version paid Φ(s′) itself every step:
//! holding the object just below the success height then earned about 1.35/(1 − γ) ≈ 135,
//! far more than succeeding (≈ 37), and PPO learned to hover instead of finishing. With
//! potential differences, hovering earns (γ − 1)·Φ < 0 per step. A timeout is a time-limit cut,
//! not a terminal state, so its step keeps γ·Φ(s′).

use serde::{Deserialize, Serialize};

use crate::error::{Result, check_range};
use crate::outcome::OutcomeKind;

/// Reward weights (dimensionless) and the discount the shaping assumes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RewardWeights {
    /// Reaching term of the potential.
    pub reach: f64,
    /// Both-finger contact term of the potential.
    pub grasp: f64,
    /// Lift progress term of the potential.
    pub lift: f64,
    /// Squared-action penalty weight.
    pub action: f64,
    /// Cost per control step of pressing on the table, at the collision force (0: off). A
    /// dense safety signal below the force that ends the episode as a table collision.
    #[serde(skip_serializing_if = "is_zero")]
    pub table_contact: f64,
    /// Bonus on success.
    pub success_bonus: f64,
    /// Penalty on a failure other than timeout.
    pub failure_penalty: f64,
    /// Discount per control step used by the shaping; set it to the learner's γ.
    pub gamma: f64,
}

impl Default for RewardWeights {
    fn default() -> Self {
        Self {
            reach: 0.1,
            grasp: 0.25,
            lift: 1.0,
            action: 0.01,
            table_contact: 0.0,
            success_bonus: 10.0,
            failure_penalty: 2.0,
            gamma: 0.99,
        }
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl RewardWeights {
    /// Checks the ranges.
    pub fn validate(&self, src: &str) -> Result<()> {
        for (f, v) in [
            ("reward.reach", self.reach),
            ("reward.grasp", self.grasp),
            ("reward.lift", self.lift),
            ("reward.action", self.action),
            ("reward.table_contact", self.table_contact),
            ("reward.success_bonus", self.success_bonus),
            ("reward.failure_penalty", self.failure_penalty),
        ] {
            check_range(src, f, v, 0.0, 1e3, "")?;
        }
        check_range(src, "reward.gamma", self.gamma, 0.0, 1.0, "")?;
        Ok(())
    }

    /// The shaping potential Φ of a state.
    ///
    /// `distance`: tool to object centre (m); `held`: both fingers touch the object; `lift`:
    /// object height above its start (m); `success_lift`: the success height (m).
    pub fn potential(&self, distance: f64, held: bool, lift: f64, success_lift: f64) -> f64 {
        let mut phi = self.reach * (1.0 - (10.0 * distance).tanh());
        if held {
            phi += self.grasp + self.lift * (lift / success_lift).clamp(0.0, 1.0);
        }
        phi
    }

    /// The reward of one control step from a state of potential `phi_before` to one of
    /// potential `phi_after`, given the normalised action's squared norm, the arm–table force as
    /// a fraction of the collision force, and the outcome decided on this step, if any.
    pub fn reward(
        &self,
        phi_before: f64,
        phi_after: f64,
        action_sq: f64,
        table_force_frac: f64,
        outcome: Option<OutcomeKind>,
    ) -> f64 {
        let terminal = outcome.is_some_and(|k| k != OutcomeKind::Timeout);
        let next = if terminal { 0.0 } else { self.gamma * phi_after };
        let table = if table_force_frac.is_finite() { table_force_frac.clamp(0.0, 1.0) } else { 1.0 };
        let mut r = next - phi_before - self.action * action_sq - self.table_contact * table;
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
    fn potential_orders_states_closer_held_higher() {
        let w = RewardWeights::default();
        let far = w.potential(0.3, false, 0.0, 0.1);
        let near = w.potential(0.01, false, 0.0, 0.1);
        let held = w.potential(0.01, true, 0.0, 0.1);
        let lifted = w.potential(0.01, true, 0.05, 0.1);
        assert!(far < near && near < held && held < lifted);
    }

    #[test]
    fn progress_pays_and_hovering_costs() {
        let w = RewardWeights::default();
        let held_low = w.potential(0.0, true, 0.02, 0.1);
        let held_high = w.potential(0.0, true, 0.09, 0.1);
        assert!(w.reward(held_low, held_high, 0.0, 0.0, None) > 0.0, "lifting pays");
        assert!(w.reward(held_high, held_high, 0.0, 0.0, None) < 0.0, "hovering costs");
        // Hovering forever is worth less than finishing: the discounted sum of hovering rewards
        // is negative, while the success step pays the bonus.
        let hover_forever = w.reward(held_high, held_high, 0.0, 0.0, None) / (1.0 - w.gamma);
        let succeed = w.reward(held_high, held_high, 0.0, 0.0, Some(OutcomeKind::Success));
        assert!(succeed > 0.0 && succeed > hover_forever);
        assert!(w.reward(held_high, 0.0, 0.0, 0.0, Some(OutcomeKind::TableCollision)) < 0.0);
    }

    #[test]
    fn pressing_on_the_table_costs_up_to_the_collision_force() {
        let w = RewardWeights { table_contact: 0.1, ..RewardWeights::default() };
        let free = w.reward(0.5, 0.5, 0.0, 0.0, None);
        assert!((free - w.reward(0.5, 0.5, 0.0, 0.5, None) - 0.05).abs() < 1e-12, "half the force, half the cost");
        assert!((free - w.reward(0.5, 0.5, 0.0, 3.0, None) - 0.1).abs() < 1e-12, "capped at the collision force");
        assert!(
            (free - w.reward(0.5, 0.5, 0.0, f64::NAN, None) - 0.1).abs() < 1e-12,
            "a non-finite force costs the most"
        );
        assert_eq!(RewardWeights::default().reward(0.5, 0.5, 0.0, 1.0, None), free - 0.0, "off by default");
        // Off, it is not written: configs and checkpoint hashes from before it existed stay equal.
        let text = toml::to_string(&RewardWeights::default()).unwrap();
        assert!(!text.contains("table_contact"), "{text}");
        assert!(toml::to_string(&w).unwrap().contains("table_contact = 0.1"));
    }

    #[test]
    fn shaping_telescopes_over_an_episode() {
        // Σ γᵗ (γ Φₜ₊₁ − Φₜ) = γᵀ Φ_T − Φ₀: the shaping adds only a start-state constant.
        let w = RewardWeights { action: 0.0, ..RewardWeights::default() };
        let phis = [0.01, 0.05, 0.3, 0.5, 0.9, 1.2, 1.35, 1.3];
        let mut ret = 0.0;
        let mut disc = 1.0;
        for t in 0..phis.len() - 1 {
            ret += disc * w.reward(phis[t], phis[t + 1], 0.0, 0.0, None);
            disc *= w.gamma;
        }
        let expected = disc * phis[phis.len() - 1] - phis[0];
        assert!((ret - expected).abs() < 1e-12, "{ret} vs {expected}");
    }
}
