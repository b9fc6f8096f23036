//! Fast inference without autodiff or a tensor runtime: the actor-critic's weights as plain
//! `f32` arrays and a fixed-order forward pass per observation. The result for one observation
//! never depends on batching or threads, so evaluation and rollouts are reproducible, and one
//! action takes a few microseconds (the hardware bridge calls it every control tick).

use serde::{Deserialize, Serialize};

use crate::normalizer::RunningNorm;

/// A dense layer, `y = x·W + b` with `W` stored row-major `[d_in, d_out]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Dense {
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
    /// Weights, row-major `[d_in, d_out]`.
    pub w: Vec<f32>,
    /// Bias, `[d_out]`.
    pub b: Vec<f32>,
}

impl Dense {
    fn forward(&self, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(&self.b);
        for (i, xi) in x.iter().enumerate().take(self.d_in) {
            let row = &self.w[i * self.d_out..(i + 1) * self.d_out];
            for (o, wij) in out.iter_mut().zip(row) {
                *o += xi * wij;
            }
        }
    }
}

/// The actor-critic for inference.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PolicyNet {
    /// Actor layers (tanh after each).
    pub actor: [Dense; 3],
    /// Critic layers (tanh after the first two).
    pub critic: [Dense; 3],
    /// Action log standard deviation.
    pub log_std: Vec<f32>,
}

/// Reusable buffers for [`PolicyNet`] forward passes.
#[derive(Default, Clone, Debug)]
pub struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
    x: Vec<f32>,
}

impl PolicyNet {
    /// Action mean (normalised, in [−1, 1]) for an already normalised observation.
    pub fn mean_into(&self, obs: &[f32], s: &mut Scratch, mean: &mut [f32]) {
        self.actor[0].forward(obs, &mut s.a);
        s.a.iter_mut().for_each(|v| *v = v.tanh());
        self.actor[1].forward(&s.a, &mut s.b);
        s.b.iter_mut().for_each(|v| *v = v.tanh());
        self.actor[2].forward(&s.b, &mut s.a);
        for (m, v) in mean.iter_mut().zip(&s.a) {
            *m = v.tanh();
        }
    }

    /// State value for an already normalised observation.
    pub fn value(&self, obs: &[f32], s: &mut Scratch) -> f32 {
        self.critic[0].forward(obs, &mut s.a);
        s.a.iter_mut().for_each(|v| *v = v.tanh());
        self.critic[1].forward(&s.a, &mut s.b);
        s.b.iter_mut().for_each(|v| *v = v.tanh());
        self.critic[2].forward(&s.b, &mut s.a);
        s.a.first().copied().unwrap_or(0.0)
    }

    /// Normalises a raw observation with `norm`, then returns the action mean.
    pub fn act(&self, norm: &RunningNorm, raw_obs: &[f32], s: &mut Scratch) -> [f32; 5] {
        let mut x = std::mem::take(&mut s.x);
        x.resize(raw_obs.len(), 0.0);
        norm.apply(raw_obs, &mut x);
        let mut mean = [0.0f32; 5];
        self.mean_into(&x, s, &mut mean);
        s.x = x;
        mean
    }

    /// Observation length the net expects.
    pub fn obs_dim(&self) -> usize {
        self.actor[0].d_in
    }
}
