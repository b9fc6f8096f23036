//! Running observation normalisation (Welford mean and variance in `f64`), saved inside every
//! checkpoint so that inference sees exactly what training saw.

use serde::{Deserialize, Serialize};

/// Per-dimension running mean and variance; normalised values are clipped to ±`clip`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunningNorm {
    /// Samples seen.
    pub count: f64,
    /// Running mean per dimension.
    pub mean: Vec<f64>,
    /// Running sum of squared deviations per dimension (Welford's M2).
    pub m2: Vec<f64>,
    /// Clip of the normalised value (standard deviations).
    pub clip: f64,
}

impl RunningNorm {
    /// A normaliser for `dim`-long vectors that starts as the identity.
    pub fn new(dim: usize) -> Self {
        Self { count: 0.0, mean: vec![0.0; dim], m2: vec![0.0; dim], clip: 5.0 }
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Adds one observation (non-finite entries are skipped dimension-wise).
    pub fn update(&mut self, x: &[f32]) {
        self.count += 1.0;
        for (i, v) in x.iter().enumerate().take(self.dim()) {
            let v = *v as f64;
            if !v.is_finite() {
                continue;
            }
            let d = v - self.mean[i];
            self.mean[i] += d / self.count;
            self.m2[i] += d * (v - self.mean[i]);
        }
    }

    /// Standard deviation of dimension `i` (at least 1e-4 so constants do not blow up).
    pub fn std(&self, i: usize) -> f64 {
        if self.count < 2.0 { 1.0 } else { (self.m2[i] / (self.count - 1.0)).sqrt().max(1e-4) }
    }

    /// Normalises `x` into `out`.
    pub fn apply(&self, x: &[f32], out: &mut [f32]) {
        for i in 0..self.dim().min(x.len()).min(out.len()) {
            let z = (x[i] as f64 - self.mean[i]) / self.std(i);
            out[i] = if z.is_finite() { z.clamp(-self.clip, self.clip) as f32 } else { 0.0 };
        }
    }

    /// Whether every statistic is finite (a loaded checkpoint must pass this).
    pub fn is_finite(&self) -> bool {
        self.count.is_finite() && self.mean.iter().chain(&self.m2).all(|v| v.is_finite()) && self.clip.is_finite()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_batch_statistics_and_clips() {
        let mut n = RunningNorm::new(2);
        let xs = [[1.0f32, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0]];
        for x in &xs {
            n.update(x);
        }
        assert!((n.mean[0] - 2.5).abs() < 1e-12);
        assert!((n.std(0) - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(n.std(1), 1e-4);
        let mut out = [0.0f32; 2];
        n.apply(&[2.5, 11.0], &mut out);
        assert_eq!(out, [0.0, 5.0]);
    }
}
