//! PPO over any [`Environment`]: rollouts from parallel envs (exploration noise and scenario
//! seeds derived from the run seed, so results never depend on the thread count), GAE(λ),
//! the clipped surrogate with value loss and entropy bonus, minibatch epochs with per-minibatch
//! advantage normalisation, per-parameter gradient-norm clipping and a linear learning-rate
//! schedule.
//!
//! Every iteration starts fresh episodes, so a checkpoint taken between iterations determines
//! the rest of the run exactly: resuming continues bit for bit like an uninterrupted run.

use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::{Bytes, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use regrasp_sim::ACTION_DIM;
use regrasp_sim::suite::SeedSpace;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::envs::Environment;
use crate::error::{PolicyError, Result};
use crate::inference::{PolicyNet, Scratch};
use crate::model::{ActorCritic, ActorCriticConfig};
use crate::normalizer::RunningNorm;

/// One minibatch, gathered: observations (`obs_dim` per sample), actions, old log-probabilities,
/// normalised advantages and returns.
struct Minibatch<'a> {
    obs: &'a [f32],
    act: &'a [f32],
    logp: &'a [f32],
    adv: &'a [f32],
    ret: &'a [f32],
    obs_dim: usize,
}

/// The gradients of the PPO loss over the samples `range` of `batch`, weighted by their share of
/// the `total` samples of the minibatch (so that shards' gradients sum to the minibatch's), with
/// the shard's policy and value losses, weighted likewise.
fn shard_gradients(
    model: &ActorCritic,
    batch: &Minibatch<'_>,
    range: std::ops::Range<usize>,
    total: usize,
    p: &crate::config::PpoConfig,
    dev: &Device,
) -> (GradientsParams, f64, f64) {
    let (d, n) = (batch.obs_dim, range.len());
    let w = n as f64 / total as f64;
    let obs = batch.obs[range.start * d..range.end * d].to_vec();
    let act = batch.act[range.start * ACTION_DIM..range.end * ACTION_DIM].to_vec();
    let obs_t = Tensor::<2>::from_data(TensorData::new(obs, [n, d]), dev);
    let act_t = Tensor::<2>::from_data(TensorData::new(act, [n, ACTION_DIM]), dev);
    let old_lp = Tensor::<1>::from_data(TensorData::new(batch.logp[range.clone()].to_vec(), [n]), dev);
    let adv_t = Tensor::<1>::from_data(TensorData::new(batch.adv[range.clone()].to_vec(), [n]), dev);
    let ret_t = Tensor::<1>::from_data(TensorData::new(batch.ret[range].to_vec(), [n]), dev);
    let ratio = (model.log_prob(obs_t.clone(), act_t) - old_lp).exp();
    let s1 = ratio.clone() * adv_t.clone();
    let s2 = ratio.clamp(1.0 - p.clip, 1.0 + p.clip) * adv_t;
    let policy_loss = s1.min_pair(s2).mean().neg();
    let value_loss = (model.value(obs_t) - ret_t).powi_scalar(2).mean();
    let loss =
        policy_loss.clone() + value_loss.clone().mul_scalar(p.value_coef) - model.entropy().mul_scalar(p.entropy_coef);
    // One shard is the whole minibatch: no weighting, so the single-thread path is unchanged.
    let loss = if n == total { loss } else { loss.mul_scalar(w) };
    let (pl, vl) = (w * scalar(policy_loss), w * scalar(value_loss));
    (GradientsParams::from_grads(loss.backward(), model), pl, vl)
}

/// The gradients of a minibatch of `total` samples, and two of its losses, computed by `shard`
/// over `shards` contiguous ranges of it, each on its own thread with its own copy of the model
/// (forked: fresh autodiff leaves, so the shards' graphs stay apart), and summed in shard order.
/// `shard` weights each range's loss by its share of `total`, so the sum is the minibatch's
/// gradient up to floating-point rounding; the result depends on `shards`, never on the machine's
/// core count. One shard runs on the calling thread with `model` itself.
fn sharded_gradients<F>(
    model: &ActorCritic,
    dev: &Device,
    total: usize,
    shards: usize,
    shard: F,
) -> (GradientsParams, f64, f64)
where
    F: Fn(&ActorCritic, std::ops::Range<usize>) -> (GradientsParams, f64, f64) + Sync,
{
    if shards <= 1 {
        return shard(model, 0..total);
    }
    let bounds: Vec<_> = (0..shards).map(|k| (k * total / shards, (k + 1) * total / shards)).collect();
    let shard = &shard;
    let parts: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .iter()
            .filter(|(lo, hi)| hi > lo)
            .map(|&(lo, hi)| scope.spawn(move || shard(&model.clone().fork(dev), lo..hi)))
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut acc = GradientsAccumulator::<ActorCritic>::new();
    let (mut l1, mut l2) = (0.0, 0.0);
    for part in parts {
        // A shard's panic is the learner's, as on one thread.
        let (g, a, b) = part.unwrap_or_else(|e| std::panic::resume_unwind(e));
        acc.accumulate(model, g);
        l1 += a;
        l2 += b;
    }
    (acc.grads(), l1, l2)
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Progress {
    /// PPO iterations completed.
    pub iteration: u64,
    /// Env control steps consumed.
    pub env_steps: u64,
    /// Training scenarios drawn.
    pub scenarios_drawn: u64,
}

/// What one iteration did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IterationStats {
    /// Iteration number (1-based, after it ran).
    pub iteration: u64,
    /// Env steps after it.
    pub env_steps: u64,
    /// Episodes that ended during the rollout.
    pub episodes: u64,
    /// Of which successes.
    pub successes: u64,
    /// Mean return of the ended episodes.
    pub mean_return: f64,
    /// Mean clipped-surrogate loss.
    pub policy_loss: f64,
    /// Mean value loss.
    pub value_loss: f64,
    /// Policy entropy (nats).
    pub entropy: f64,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Env steps per second during the rollout.
    pub env_steps_per_s: f64,
    /// Learner samples per second during the update (samples × epochs / time).
    pub learner_samples_per_s: f64,
}

/// One episode that ended during a rollout, as the learner saw it: what Prioritized Level
/// Replay scores a level by.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TrainingEpisode {
    /// The scenario seed the episode was reset with (the draw seed given to the source).
    pub seed: u64,
    /// It ended in success.
    pub success: bool,
    /// Control steps it lasted.
    pub steps: u32,
    /// Undiscounted return.
    pub episode_return: f64,
    /// PLR's positive value loss: the mean over the episode's steps of max(GAE(λ) advantage, 0),
    /// large where the episode went better than the critic expected (learning potential).
    pub positive_value_loss: f64,
}

/// Mixes a run seed with stream numbers into an RNG seed.
pub fn stream_seed(seed: u64, a: u64, b: u64) -> u64 {
    SeedSpace::training_seed(seed ^ a.wrapping_mul(0xD6E8_FEB8_6659_FD93), b)
}

/// A PPO learner over `E`.
pub struct Trainer<E: Environment> {
    /// The run's config.
    pub cfg: TrainConfig,
    envs: Vec<E>,
    device: Device,
    model: ActorCritic,
    optim: ModuleOptimizer,
    norm: RunningNorm,
    net: PolicyNet,
    /// Where the run stands.
    pub progress: Progress,
    episodes: Vec<TrainingEpisode>,
}

fn optimizer(max_grad_norm: f64) -> ModuleOptimizer {
    AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(max_grad_norm as f32))).init()
}

impl<E: Environment> Trainer<E> {
    /// A fresh learner (model initialised from the run seed).
    pub fn new(cfg: TrainConfig, envs: Vec<E>) -> Result<Self> {
        let obs_dim = envs.first().map(|e| e.obs_dim()).unwrap_or(0);
        let device = crate::device::learner_device();
        let model = ActorCriticConfig::new(obs_dim, ACTION_DIM)
            .with_hidden(cfg.model.hidden)
            .with_init_log_std(cfg.model.init_log_std)
            .init(stream_seed(cfg.seed, 1, 0), &device);
        let net = model.valid().to_inference();
        Ok(Self {
            optim: optimizer(cfg.ppo.max_grad_norm),
            cfg,
            envs,
            device,
            model,
            norm: RunningNorm::new(obs_dim),
            net,
            progress: Progress::default(),
            episodes: Vec::new(),
        })
    }

    /// A learner continuing from saved state (model, optimizer bytes, normaliser, progress).
    pub fn resume(
        cfg: TrainConfig,
        envs: Vec<E>,
        model: ActorCritic,
        optimizer_bytes: &[u8],
        norm: RunningNorm,
        progress: Progress,
    ) -> Result<Self> {
        let device = crate::device::learner_device();
        let model = model.trainable(&device);
        let mut optim = optimizer(cfg.ppo.max_grad_norm);
        if !optimizer_bytes.is_empty() {
            optim = optim
                .from_bytes(Bytes::from_bytes_vec(optimizer_bytes.to_vec()))
                .map_err(|e| PolicyError::Checkpoint { path: "optimizer.bpk".into(), reason: e.to_string() })?;
        }
        let net = model.valid().to_inference();
        Ok(Self { cfg, envs, device, model, optim, norm, net, progress, episodes: Vec::new() })
    }

    /// The model.
    pub fn model(&self) -> &ActorCritic {
        &self.model
    }

    /// The observation normaliser.
    pub fn normalizer(&self) -> &RunningNorm {
        &self.norm
    }

    /// The inference copy of the current model.
    pub fn net(&self) -> &PolicyNet {
        &self.net
    }

    /// Optimizer state as burnpack bytes.
    pub fn optimizer_bytes(&self) -> Result<Vec<u8>> {
        self.optim
            .into_bytes()
            .map(|b| b.to_vec())
            .map_err(|e| PolicyError::Checkpoint { path: "optimizer.bpk".into(), reason: e.to_string() })
    }

    /// Replaces the model, normaliser and optimizer (after a warm start).
    pub fn set_model(&mut self, model: ActorCritic, norm: RunningNorm) {
        self.model = model.trainable(&self.device);
        self.norm = norm;
        self.optim = optimizer(self.cfg.ppo.max_grad_norm);
        self.net = self.model.valid().to_inference();
    }

    /// The episodes that ended during the last iteration's rollout, in the order they ended
    /// (then by env).
    pub fn last_episodes(&self) -> &[TrainingEpisode] {
        &self.episodes
    }

    /// Whether the env-step budget is spent.
    pub fn done(&self) -> bool {
        self.progress.env_steps >= self.cfg.total_env_steps
    }

    /// One PPO iteration: a rollout of `rollout_steps` per env, then the update.
    pub fn iterate(&mut self) -> Result<IterationStats> {
        let n = self.envs.len();
        let t_len = self.cfg.rollout_steps;
        let d = self.norm.dim();
        let it = self.progress.iteration;
        let seed = self.cfg.seed;
        let start = Instant::now();

        // Fresh episodes, scenario seeds assigned in env order.
        let seeds: Vec<u64> = (0..n).map(|_| draw_seed(seed, &mut self.progress)).collect();
        let mut obs: Vec<Vec<f32>> =
            self.envs.par_iter_mut().zip(seeds.par_iter()).map(|(e, s)| e.reset(*s)).collect::<Result<_>>()?;
        let mut rngs: Vec<ChaCha8Rng> =
            (0..n).map(|i| ChaCha8Rng::seed_from_u64(stream_seed(seed, 2 + it, i as u64))).collect();
        let std: Vec<f32> = self.net.log_std.iter().map(|l| l.exp()).collect();

        let total = t_len * n;
        let mut b_obs = vec![0.0f32; total * d];
        let mut b_act = vec![0.0f32; total * ACTION_DIM];
        let mut b_logp = vec![0.0f32; total];
        let mut b_val = vec![0.0f32; total];
        let mut b_rew = vec![0.0f32; total];
        let mut b_done = vec![false; total];
        let mut raw_obs: Vec<Vec<f32>> = Vec::with_capacity(total);
        let mut ep_ret = vec![0.0f64; n];
        // Per env: the seed and first step of its current episode; ended episodes as
        // (env, first step, last step, record without its score).
        let mut ep_seed = seeds.clone();
        let mut ep_start = vec![0usize; n];
        let mut ended: Vec<(usize, usize, usize, TrainingEpisode)> = Vec::new();
        let gamma = self.cfg.ppo.gamma as f32;
        let net = &self.net;
        let norm = &self.norm;
        for t in 0..t_len {
            let results: Vec<_> = self
                .envs
                .par_iter_mut()
                .zip(obs.par_iter())
                .zip(rngs.par_iter_mut())
                .map(|((env, o), rng)| -> Result<_> {
                    let mut s = Scratch::default();
                    let mut x = vec![0.0f32; d];
                    norm.apply(o, &mut x);
                    let mut mean = [0.0f32; ACTION_DIM];
                    net.mean_into(&x, &mut s, &mut mean);
                    let v = net.value(&x, &mut s);
                    let mut a = [0.0f32; ACTION_DIM];
                    let mut logp = 0.0f32;
                    for k in 0..ACTION_DIM {
                        let eps = gaussian(rng);
                        a[k] = mean[k] + std[k] * eps;
                        logp += -0.5 * eps * eps - net.log_std[k] - crate::model::HALF_LN_2PI;
                    }
                    let tr = env.step(&a)?;
                    // A time-limit cut bootstraps from the value of the last observation.
                    let boot = if tr.truncated {
                        let mut xf = vec![0.0f32; d];
                        norm.apply(&tr.obs, &mut xf);
                        gamma * net.value(&xf, &mut s)
                    } else {
                        0.0
                    };
                    Ok((x, a, logp, v, tr, boot))
                })
                .collect::<Result<_>>()?;
            let mut to_reset = Vec::new();
            for (i, (x, a, logp, v, tr, boot)) in results.into_iter().enumerate() {
                let k = t * n + i;
                b_obs[k * d..(k + 1) * d].copy_from_slice(&x);
                b_act[k * ACTION_DIM..(k + 1) * ACTION_DIM].copy_from_slice(&a);
                b_logp[k] = logp;
                b_val[k] = v;
                b_rew[k] = tr.reward + boot;
                raw_obs.push(std::mem::take(&mut obs[i]));
                ep_ret[i] += tr.reward as f64;
                if tr.terminal || tr.truncated {
                    b_done[k] = true;
                    let steps = (t + 1 - ep_start[i]) as u32;
                    let record = TrainingEpisode {
                        seed: ep_seed[i],
                        success: tr.success,
                        steps,
                        episode_return: ep_ret[i],
                        positive_value_loss: 0.0,
                    };
                    ended.push((i, ep_start[i], t, record));
                    ep_start[i] = t + 1;
                    ep_ret[i] = 0.0;
                    to_reset.push(i);
                }
                obs[i] = tr.obs;
            }
            let reset_seeds: Vec<(usize, u64)> =
                to_reset.iter().map(|&i| (i, draw_seed(seed, &mut self.progress))).collect();
            for &(i, s) in &reset_seeds {
                ep_seed[i] = s;
            }
            let fresh: Vec<(usize, Vec<f32>)> = self
                .envs
                .par_iter_mut()
                .enumerate()
                .filter_map(|(i, e)| reset_seeds.iter().find(|(j, _)| *j == i).map(|(_, s)| (i, e, *s)))
                .map(|(i, e, s)| e.reset(s).map(|o| (i, o)))
                .collect::<Result<_>>()?;
            for (i, o) in fresh {
                obs[i] = o;
            }
        }
        // Bootstrap values of the unfinished episodes.
        let last_val: Vec<f32> = obs
            .iter()
            .map(|o| {
                let mut x = vec![0.0f32; d];
                norm.apply(o, &mut x);
                net.value(&x, &mut Scratch::default())
            })
            .collect();
        self.progress.env_steps += total as u64;
        let rollout_s = start.elapsed().as_secs_f64();

        // GAE(λ), per env, backwards in time.
        let lam = self.cfg.ppo.gae_lambda as f32;
        let mut adv = vec![0.0f32; total];
        for (i, &last) in last_val.iter().enumerate() {
            let mut next_v = last;
            let mut next_adv = 0.0f32;
            for t in (0..t_len).rev() {
                let k = t * n + i;
                let not_done = if b_done[k] { 0.0 } else { 1.0 };
                let delta = b_rew[k] + gamma * next_v * not_done - b_val[k];
                next_adv = delta + gamma * lam * not_done * next_adv;
                adv[k] = next_adv;
                next_v = b_val[k];
            }
        }
        let returns: Vec<f32> = adv.iter().zip(&b_val).map(|(a, v)| a + v).collect();
        self.episodes = ended
            .into_iter()
            .map(|(i, first, last, mut e)| {
                let pos: f64 = (first..=last).map(|t| adv[t * n + i].max(0.0) as f64).sum();
                e.positive_value_loss = pos / (last + 1 - first) as f64;
                e
            })
            .collect();
        if self.cfg.ppo.update_normalizer {
            for o in &raw_obs {
                self.norm.update(o);
            }
        }

        // The update.
        let frac = (self.progress.env_steps as f64 / self.cfg.total_env_steps.max(1) as f64).min(1.0);
        let lr = self.cfg.ppo.learning_rate + (self.cfg.ppo.final_learning_rate - self.cfg.ppo.learning_rate) * frac;
        let update_start = Instant::now();
        let mut shuffle = ChaCha8Rng::seed_from_u64(stream_seed(seed, 3 + it, 0));
        let mut idx: Vec<usize> = (0..total).collect();
        let (mut pl_sum, mut vl_sum, mut batches) = (0.0f64, 0.0f64, 0usize);
        let p = self.cfg.ppo.clone();
        for _ in 0..p.epochs {
            for i in (1..idx.len()).rev() {
                idx.swap(i, shuffle.random_range(0..=i));
            }
            for mb in idx.chunks(p.minibatch) {
                let bsz = mb.len();
                let mut o = Vec::with_capacity(bsz * d);
                let mut a = Vec::with_capacity(bsz * ACTION_DIM);
                let (mut lp, mut ad, mut rt) =
                    (Vec::with_capacity(bsz), Vec::with_capacity(bsz), Vec::with_capacity(bsz));
                for &k in mb {
                    o.extend_from_slice(&b_obs[k * d..(k + 1) * d]);
                    a.extend_from_slice(&b_act[k * ACTION_DIM..(k + 1) * ACTION_DIM]);
                    lp.push(b_logp[k]);
                    ad.push(adv[k]);
                    rt.push(returns[k]);
                }
                let m = ad.iter().sum::<f32>() / bsz as f32;
                let s = (ad.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / bsz as f32).sqrt().max(1e-6);
                ad.iter_mut().for_each(|x| *x = (*x - m) / s);
                let batch = Minibatch { obs: &o, act: &a, logp: &lp, adv: &ad, ret: &rt, obs_dim: d };
                let (grads, pl, vl) = sharded_gradients(&self.model, &self.device, bsz, p.learner_shards, |m, r| {
                    shard_gradients(m, &batch, r, bsz, &p, &self.device)
                });
                pl_sum += pl;
                vl_sum += vl;
                batches += 1;
                self.model = self.optim.step(lr, self.model.clone(), grads);
            }
        }
        let update_s = update_start.elapsed().as_secs_f64();
        let episodes = self.episodes.len() as u64;
        let ret_sum: f64 = self.episodes.iter().map(|e| e.episode_return).sum();
        self.net = self.model.valid().to_inference();
        self.progress.iteration += 1;
        let entropy = scalar(self.model.valid().entropy());
        Ok(IterationStats {
            iteration: self.progress.iteration,
            env_steps: self.progress.env_steps,
            episodes,
            successes: self.episodes.iter().filter(|e| e.success).count() as u64,
            mean_return: if episodes > 0 { ret_sum / episodes as f64 } else { 0.0 },
            policy_loss: pl_sum / batches.max(1) as f64,
            value_loss: vl_sum / batches.max(1) as f64,
            entropy,
            learning_rate: lr,
            env_steps_per_s: total as f64 / rollout_s,
            learner_samples_per_s: (total * p.epochs) as f64 / update_s,
        })
    }
}

/// The next training scenario seed of a run; advances the counter.
pub fn draw_seed(run_seed: u64, progress: &mut Progress) -> u64 {
    let s = SeedSpace::training_seed(run_seed, progress.scenarios_drawn);
    progress.scenarios_drawn += 1;
    s
}

/// A standard normal sample (Box–Muller).
pub fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// The single value of a `[1]` tensor.
pub fn scalar(t: Tensor<1>) -> f64 {
    t.into_data().try_to_vec::<f32>().ok().and_then(|v| v.first().copied()).unwrap_or(f32::NAN) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::PolicyNet;
    use burn::optim::SgdConfig;

    /// A small trainable model and a random minibatch of `n` samples with `d`-long observations:
    /// observations, actions in (−1, 1), old log-probabilities, advantages and returns.
    fn model_and_batch(n: usize, d: usize) -> (ActorCritic, [Vec<f32>; 5]) {
        let dev = crate::device::learner_device();
        let model = ActorCriticConfig::new(d, ACTION_DIM).with_hidden(24).init(4, &dev);
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let mut draw =
            |len: usize, lo: f32, hi: f32| -> Vec<f32> { (0..len).map(|_| rng.random_range(lo..hi)).collect() };
        let batch = [
            draw(n * d, -2.0, 2.0),
            draw(n * ACTION_DIM, -0.9, 0.9),
            draw(n, -6.0, -2.0),
            draw(n, -1.5, 1.5),
            draw(n, -1.0, 3.0),
        ];
        (model, batch)
    }

    /// The weights after one plain gradient step with `grads`: where two gradients differ, so
    /// do these.
    fn stepped(model: &ActorCritic, grads: GradientsParams) -> PolicyNet {
        let mut sgd = SgdConfig::new().init();
        sgd.step(1.0, model.clone(), grads).valid().to_inference()
    }

    /// The largest absolute difference between two nets' weights.
    fn weight_gap(a: &PolicyNet, b: &PolicyNet) -> f32 {
        let flat = |n: &PolicyNet| -> Vec<f32> {
            n.actor
                .iter()
                .chain(&n.critic)
                .flat_map(|l| l.w.iter().chain(&l.b).copied())
                .chain(n.log_std.clone())
                .collect()
        };
        let (fa, fb) = (flat(a), flat(b));
        assert_eq!(fa.len(), fb.len());
        fa.iter().zip(&fb).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn ppo_gradients_in_shards_sum_to_the_minibatchs_gradient() {
        let (n, d) = (37, 9);
        let (model, [obs, act, logp, adv, ret]) = model_and_batch(n, d);
        let batch = Minibatch { obs: &obs, act: &act, logp: &logp, adv: &adv, ret: &ret, obs_dim: d };
        let p = crate::config::PpoConfig { entropy_coef: 0.01, ..Default::default() };
        let dev = crate::device::learner_device();
        let run =
            |shards| sharded_gradients(&model, &dev, n, shards, |m, r| shard_gradients(m, &batch, r, n, &p, &dev));
        let (g1, pl1, vl1) = run(1);
        let one = stepped(&model, g1);
        let before = model.valid().to_inference();
        let moved = weight_gap(&one, &before);
        assert!(moved > 1e-4, "the step must move the weights for the comparison to mean anything: {moved}");
        for shards in [2, 3, 5] {
            let (g, pl, vl) = run(shards);
            let gap = weight_gap(&stepped(&model, g), &one);
            assert!(gap < 1e-5, "{shards} shards: weights differ by {gap} from one shard's (the step moved {moved})");
            assert!(
                (pl - pl1).abs() < 1e-5 && (vl - vl1).abs() < 1e-4,
                "{shards} shards: losses {pl}, {vl} vs {pl1}, {vl1}"
            );
            // The same shard count gives the same bits, run after run.
            let (again, _, _) = run(shards);
            let (g, _, _) = run(shards);
            assert_eq!(stepped(&model, g), stepped(&model, again), "{shards} shards: not deterministic");
        }
    }
}
