//! The actor-critic: a Gaussian policy whose state-dependent mean is bounded by `tanh`, with a
//! learned state-independent log standard deviation, and a separate value head. Initialised
//! from an explicit seed, so training is reproducible bit for bit.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// ln(2π) / 2.
pub const HALF_LN_2PI: f32 = 0.918_938_5;

/// Shape and initialisation of the actor-critic.
#[derive(Config, Debug, PartialEq)]
pub struct ActorCriticConfig {
    /// Observation length.
    pub obs_dim: usize,
    /// Action length.
    pub action_dim: usize,
    /// Width of the two hidden layers of each head.
    #[config(default = 128)]
    pub hidden: usize,
    /// Initial log standard deviation of the action distribution (normalised action units).
    #[config(default = -0.7)]
    pub init_log_std: f32,
}

/// Actor and critic MLPs (two tanh hidden layers each) and the action log-std.
#[derive(Module, Debug)]
pub struct ActorCritic {
    actor_in: Linear,
    actor_hidden: Linear,
    actor_out: Linear,
    critic_in: Linear,
    critic_hidden: Linear,
    critic_out: Linear,
    log_std: Param<Tensor<1>>,
}

fn linear(rng: &mut ChaCha8Rng, d_in: usize, d_out: usize, gain: f32, device: &Device) -> Linear {
    // Uniform with the variance of a Kaiming-style init, scaled by `gain`.
    let k = gain * (3.0 / d_in as f32).sqrt();
    let w: Vec<f32> = (0..d_in * d_out).map(|_| k * (2.0 * rng.random::<f32>() - 1.0)).collect();
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [d_in, d_out]), device)),
        bias: Some(Param::from_tensor(Tensor::zeros([d_out], device))),
    }
}

impl ActorCriticConfig {
    /// A fresh actor-critic on `device`, initialised from `seed`.
    pub fn init(&self, seed: u64, device: &Device) -> ActorCritic {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let h = self.hidden;
        ActorCritic {
            actor_in: linear(&mut rng, self.obs_dim, h, 1.0, device),
            actor_hidden: linear(&mut rng, h, h, 1.0, device),
            // Small output weights: the initial mean is close to zero.
            actor_out: linear(&mut rng, h, self.action_dim, 0.01, device),
            critic_in: linear(&mut rng, self.obs_dim, h, 1.0, device),
            critic_hidden: linear(&mut rng, h, h, 1.0, device),
            critic_out: linear(&mut rng, h, 1, 1.0, device),
            log_std: Param::from_tensor(Tensor::full([self.action_dim], self.init_log_std, device)),
        }
    }
}

impl ActorCritic {
    /// Action mean in [−1, 1], `[batch, action_dim]`, from normalised observations.
    pub fn mean(&self, obs: Tensor<2>) -> Tensor<2> {
        let x = self.actor_in.forward(obs).tanh();
        let x = self.actor_hidden.forward(x).tanh();
        self.actor_out.forward(x).tanh()
    }

    /// State value, `[batch]`.
    pub fn value(&self, obs: Tensor<2>) -> Tensor<1> {
        let x = self.critic_in.forward(obs).tanh();
        let x = self.critic_hidden.forward(x).tanh();
        self.critic_out.forward(x).squeeze_dim::<1>(1)
    }

    /// Log standard deviation, `[action_dim]`.
    pub fn log_std(&self) -> Tensor<1> {
        self.log_std.val()
    }

    /// Log-density of `actions` `[batch, action_dim]` under the policy at `obs`, `[batch]`.
    pub fn log_prob(&self, obs: Tensor<2>, actions: Tensor<2>) -> Tensor<1> {
        let mean = self.mean(obs);
        let [batch, dim] = mean.dims();
        let log_std = self.log_std().unsqueeze_dim::<2>(0).expand([batch, dim]);
        let z = (actions - mean) / log_std.clone().exp();
        (z.powi_scalar(2).mul_scalar(-0.5) - log_std)
            .sum_dim(1)
            .squeeze_dim::<1>(1)
            .sub_scalar(HALF_LN_2PI * dim as f32)
    }

    /// Entropy of the action distribution (nats), a scalar tensor `[1]`.
    pub fn entropy(&self) -> Tensor<1> {
        let dim = self.log_std().dims()[0];
        self.log_std().sum().add_scalar((HALF_LN_2PI + 0.5) * dim as f32)
    }

    /// This model with its action log-std set to `log_std` in every dimension (the exploration
    /// noise PPO starts from after a warm start).
    pub fn with_log_std(mut self, log_std: f32) -> Self {
        let dims = self.log_std.val().dims();
        let device = self.log_std.val().device();
        self.log_std = Param::from_tensor(Tensor::full(dims, log_std, &device));
        self
    }

    /// This model on `device` with every parameter tracking gradients, wherever it came from
    /// (a fresh init, a checkpoint loaded on a plain device, an inference copy).
    pub fn trainable(self, device: &Device) -> Self {
        self.fork(device).train().set_require_grad(true)
    }

    /// Copies the weights out into plain arrays for fast, batch-independent inference.
    pub fn to_inference(&self) -> crate::inference::PolicyNet {
        let lin = |l: &Linear| {
            let w = l.weight.val();
            let [d_in, d_out] = w.dims();
            let w: Vec<f32> = w.into_data().try_to_vec::<f32>().unwrap_or_default();
            let b: Vec<f32> = l
                .bias
                .as_ref()
                .map(|b| b.val().into_data().try_to_vec::<f32>().unwrap_or_default())
                .unwrap_or_else(|| vec![0.0; d_out]);
            crate::inference::Dense { d_in, d_out, w, b }
        };
        crate::inference::PolicyNet {
            actor: [lin(&self.actor_in), lin(&self.actor_hidden), lin(&self.actor_out)],
            critic: [lin(&self.critic_in), lin(&self.critic_hidden), lin(&self.critic_out)],
            log_std: self.log_std().into_data().try_to_vec::<f32>().unwrap_or_default(),
        }
    }
}
