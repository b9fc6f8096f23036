//! EXP3 over the curriculum generators: each generation one generator leads the curriculum,
//! drawn from the bandit's probabilities, and is credited with the held-out gain its
//! generation produced (importance-weighted), so the loop also learns how to improve.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::generators::GeneratorKind;

/// EXP3 state: one log-weight per generator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Exp3 {
    /// Arms.
    pub arms: Vec<GeneratorKind>,
    /// Log-weights (same order).
    pub log_weights: Vec<f64>,
    /// Exploration rate γ in (0, 1].
    pub gamma: f64,
}

impl Exp3 {
    /// Equal weights over `arms`.
    pub fn new(arms: &[GeneratorKind], gamma: f64) -> Self {
        Self { arms: arms.to_vec(), log_weights: vec![0.0; arms.len()], gamma }
    }

    /// Arm probabilities: (1 − γ)·softmax(log w) + γ/K.
    pub fn probabilities(&self) -> Vec<f64> {
        let k = self.arms.len() as f64;
        let max = self.log_weights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = self.log_weights.iter().map(|l| (l - max).exp()).collect();
        let s: f64 = w.iter().sum();
        w.iter().map(|x| (1.0 - self.gamma) * x / s + self.gamma / k).collect()
    }

    /// Draws the lead arm.
    pub fn pick(&self, rng: &mut ChaCha8Rng) -> usize {
        let p = self.probabilities();
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for (i, pi) in p.iter().enumerate() {
            acc += pi;
            if u < acc {
                return i;
            }
        }
        p.len() - 1
    }

    /// Credits arm `i`, which was drawn with the current probabilities, with `reward` ∈ [0, 1].
    pub fn update(&mut self, i: usize, reward: f64) {
        let p = self.probabilities()[i];
        let k = self.arms.len() as f64;
        let r = if reward.is_finite() { reward.clamp(0.0, 1.0) } else { 0.0 };
        self.log_weights[i] += self.gamma * (r / p) / k;
    }

    /// The reward of a held-out gain (fraction): 0.5 + gain / (2 · `full_gain`), clamped to [0, 1].
    pub fn reward_of_gain(gain: f64, full_gain: f64) -> f64 {
        (0.5 + gain / (2.0 * full_gain)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_arm_that_pays_gains_probability() {
        let mut b = Exp3::new(&GeneratorKind::ALL, 0.2);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let i = b.pick(&mut rng);
            // Mutate (arm 3) yields gains, the others losses.
            let gain = if b.arms[i] == GeneratorKind::Mutate { 0.05 } else { -0.02 };
            b.update(i, Exp3::reward_of_gain(gain, 0.05));
        }
        let p = b.probabilities();
        assert!(p[3] > 0.6, "{p:?}");
        assert!(p.iter().all(|&x| x >= 0.2 / 4.0 - 1e-12), "exploration floor kept: {p:?}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn rewards_are_clamped_and_nan_safe() {
        assert_eq!(Exp3::reward_of_gain(1.0, 0.05), 1.0);
        assert_eq!(Exp3::reward_of_gain(-1.0, 0.05), 0.0);
        assert_eq!(Exp3::reward_of_gain(0.0, 0.05), 0.5);
        let mut b = Exp3::new(&GeneratorKind::ALL, 0.2);
        b.update(0, f64::NAN);
        assert!(b.probabilities().iter().all(|p| p.is_finite()));
    }
}
