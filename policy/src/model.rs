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

/// The learner's tanh, computed as 2·σ(2x) − 1 through the logistic function. burn's CPU backend
/// evaluates `Tensor::tanh` with the C library's `tanhf` (through `expm1f`), once forward and
/// again in the backward pass, which took about half of behaviour cloning's time; σ goes through
/// `expf`, several times cheaper. It agrees with `f32::tanh` (what acting uses, in
/// [`crate::inference`]) to within [`LEARNER_TANH_MAX_ERROR`].
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::sigmoid(x.mul_scalar(2.0)).mul_scalar(2.0).sub_scalar(1.0)
}

/// A bound on the absolute difference between [`tanh`] and `f32::tanh`: about two f32 rounding
/// steps at 1.0 (one is 1.2e-7). The test's dense sweep over [−20, 20] measured 1.8e-7.
pub const LEARNER_TANH_MAX_ERROR: f32 = 2.5e-7;

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
        let x = tanh(self.actor_in.forward(obs));
        let x = tanh(self.actor_hidden.forward(x));
        tanh(self.actor_out.forward(x))
    }

    /// State value, `[batch]`.
    pub fn value(&self, obs: Tensor<2>) -> Tensor<1> {
        let x = tanh(self.critic_in.forward(obs));
        let x = tanh(self.critic_hidden.forward(x));
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

    /// This model with its action log-std set to `log_std`, one value per action dimension (the
    /// exploration noise PPO starts from after a warm start).
    pub fn with_log_std(mut self, log_std: [f32; regrasp_sim::ACTION_DIM]) -> Self {
        let device = self.log_std.val().device();
        self.log_std =
            Param::from_tensor(Tensor::from_data(TensorData::new(log_std.to_vec(), [log_std.len()]), &device));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep() -> Vec<f32> {
        // Dense around 0 (where 2σ(2x) − 1 cancels), then out to where tanh saturates.
        let mut xs: Vec<f32> = (-200_000..=200_000).map(|i| i as f32 * 1e-4).collect();
        xs.extend((-400..=400).map(|i| i as f32 * 0.25));
        xs.extend([1e-30, -1e-30, 1e-8, -1e-8, 0.0, -0.0, 88.0, -88.0, 1e4, -1e4]);
        xs
    }

    #[test]
    fn the_learners_tanh_agrees_with_f32_tanh_within_its_stated_error() {
        let xs = sweep();
        let n = xs.len();
        let y = tanh(Tensor::<1>::from_data(TensorData::new(xs.clone(), [n]), &Device::flex()));
        let y = y.into_data().try_to_vec::<f32>().unwrap();
        let worst = xs.iter().zip(&y).map(|(x, y)| (x.tanh() - y).abs()).fold(0.0f32, f32::max);
        assert!(worst <= LEARNER_TANH_MAX_ERROR, "worst |Δ| {worst} > {LEARNER_TANH_MAX_ERROR}");
        assert!(y.iter().all(|v| (-1.0..=1.0).contains(v)), "outside [−1, 1]");
        // Monotone over the dense sweep, as an activation must be.
        assert!(y.windows(2).take(400_000).all(|w| w[1] >= w[0]), "not monotone on the dense sweep");
    }

    #[test]
    fn the_model_and_the_inference_net_agree_within_the_tanh_error() {
        let dev = Device::flex();
        let model = ActorCriticConfig::new(11, 5).with_hidden(32).init(3, &dev);
        let net = model.to_inference();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let obs: Vec<f32> = (0..11 * 64).map(|_| rng.random_range(-3.0..3.0)).collect();
        let t = Tensor::<2>::from_data(TensorData::new(obs.clone(), [64, 11]), &dev);
        let means = model.mean(t.clone()).into_data().try_to_vec::<f32>().unwrap();
        let values = model.value(t).into_data().try_to_vec::<f32>().unwrap();
        let mut s = crate::inference::Scratch::default();
        for (i, o) in obs.chunks(11).enumerate() {
            let mut m = [0.0f32; 5];
            net.mean_into(o, &mut s, &mut m);
            for (k, mk) in m.iter().enumerate() {
                assert!((mk - means[i * 5 + k]).abs() < 1e-5, "sample {i} action {k}: {mk} vs {}", means[i * 5 + k]);
            }
            let v = net.value(o, &mut s);
            assert!((v - values[i]).abs() < 1e-4, "sample {i} value: {v} vs {}", values[i]);
        }
    }
}
