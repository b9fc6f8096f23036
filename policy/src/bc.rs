//! Behaviour cloning from the grasp expert, with DAgger: expert demonstrations on training
//! scenarios (successful episodes kept), the actor's mean regressed onto the expert's normalised
//! actions and the critic onto discounted returns; then rounds in which a mixture of learner and
//! expert acts, the expert labels every state the learner visits, and the learner retrains on
//! everything gathered. The warm start for PPO.

use std::sync::Arc;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use regrasp_sim::outcome::OutcomeKind;
use regrasp_sim::scripted::{Expert, ScriptedParams};
use regrasp_sim::{ACTION_DIM, Action, ArmModel, EnvConfig, GraspEnv, ScenarioDistribution};
use serde::Serialize;

use crate::config::BcConfig;
use crate::envs::expert_action;
use crate::error::{PolicyError, Result};
use crate::inference::{PolicyNet, Scratch};
use crate::model::ActorCritic;
use crate::normalizer::RunningNorm;
use crate::ppo::{scalar, stream_seed};

/// Demonstrations, flattened.
#[derive(Clone, Debug, Default)]
pub struct Demos {
    /// Observation length.
    pub obs_dim: usize,
    /// Observations, `[samples × obs_dim]`.
    pub obs: Vec<f32>,
    /// Normalised actions, `[samples × 5]`, clamped to ±[`crate::envs::LABEL_BOUND`] (0.97) so
    /// `tanh` can reach them.
    pub actions: Vec<f32>,
    /// Discounted returns from each sample.
    pub returns: Vec<f32>,
    /// Episodes run.
    pub episodes: u64,
    /// Episodes kept (successful).
    pub kept: u64,
    /// Env control steps used.
    pub env_steps: u64,
}

impl Demos {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.returns.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.returns.is_empty()
    }
}

/// One labelled episode: observations, expert labels, rewards, success.
type LabelledEpisode = (Vec<Vec<f32>>, Vec<[f32; ACTION_DIM]>, Vec<f32>, bool);

/// A learner that acts during collection (DAgger).
#[derive(Clone, Copy)]
pub struct Learner<'a> {
    /// Its inference weights.
    pub net: &'a PolicyNet,
    /// Its observation normaliser.
    pub norm: &'a RunningNorm,
    /// Probability that the expert's action is executed instead of the learner's at each step.
    pub beta: f64,
    /// Seed of the mixing choices.
    pub seed: u64,
}

/// Runs episodes on the scenarios of `seeds` (in parallel; the result does not depend on the
/// thread count) and labels every visited state with the state-driven expert's action. With no
/// learner the expert acts (demonstrations, of which the successful episodes are kept); with a
/// learner the β-mixture acts and every episode is kept (DAgger).
pub fn collect_labels(
    arm: &Arc<ArmModel>,
    env_cfg: &Arc<EnvConfig>,
    distribution: &ScenarioDistribution,
    seeds: &[u64],
    gamma: f64,
    learner: Option<Learner<'_>>,
) -> Result<(Demos, u64)> {
    let per_episode: Vec<LabelledEpisode> = seeds
        .par_iter()
        .map(|&seed| -> Result<_> {
            let mut env = GraspEnv::new(Arc::clone(arm), Arc::clone(env_cfg))?;
            let scenario = distribution.sample(seed);
            let mut obs = env.reset(&scenario)?;
            let expert = Expert::new(&scenario, arm, ScriptedParams::default());
            let limits = env.config().action;
            let mut mix = ChaCha8Rng::seed_from_u64(stream_seed(learner.map(|l| l.seed).unwrap_or(0), 11, seed));
            let mut scratch = Scratch::default();
            let (mut o, mut a, mut r) = (Vec::new(), Vec::new(), Vec::new());
            loop {
                let (expert_act, label) = expert_action(&expert, &env)?;
                let executed = match learner {
                    Some(l) if mix.random::<f64>() >= l.beta => {
                        Action::from_normalized(&l.net.act(l.norm, &obs, &mut scratch), &limits)
                    }
                    _ => expert_act,
                };
                let step = env.step(&executed)?;
                o.push(obs);
                a.push(label);
                r.push(step.reward as f32);
                obs = step.obs;
                if let Some(out) = step.outcome {
                    return Ok((o, a, r, out.kind == OutcomeKind::Success));
                }
            }
        })
        .collect::<Result<_>>()?;
    let keep_all = learner.is_some();
    let obs_dim = per_episode.first().and_then(|e| e.0.first()).map(|o| o.len()).unwrap_or(0);
    let mut d = Demos { obs_dim, episodes: seeds.len() as u64, ..Default::default() };
    let mut successes = 0;
    for (o, a, r, ok) in per_episode {
        d.env_steps += r.len() as u64;
        successes += ok as u64;
        if !ok && !keep_all {
            continue;
        }
        d.kept += 1;
        let mut g = 0.0f32;
        let mut rets = vec![0.0f32; r.len()];
        for t in (0..r.len()).rev() {
            g = r[t] + gamma as f32 * g;
            rets[t] = g;
        }
        for (oi, ai) in o.iter().zip(&a) {
            d.obs.extend_from_slice(oi);
            d.actions.extend_from_slice(ai);
        }
        d.returns.extend(rets);
    }
    Ok((d, successes))
}

/// Expert demonstrations on the scenarios of `seeds`; the successful episodes are kept.
pub fn collect_demos(
    arm: &Arc<ArmModel>,
    env_cfg: &Arc<EnvConfig>,
    distribution: &ScenarioDistribution,
    seeds: &[u64],
    gamma: f64,
) -> Result<Demos> {
    Ok(collect_labels(arm, env_cfg, distribution, seeds, gamma, None)?.0)
}

impl Demos {
    /// Appends another set of labelled samples.
    pub fn extend(&mut self, other: &Demos) {
        if self.is_empty() {
            self.obs_dim = other.obs_dim;
        }
        self.obs.extend_from_slice(&other.obs);
        self.actions.extend_from_slice(&other.actions);
        self.returns.extend_from_slice(&other.returns);
        self.episodes += other.episodes;
        self.kept += other.kept;
        self.env_steps += other.env_steps;
    }
}

/// How behaviour cloning went.
#[derive(Clone, Debug, Serialize)]
pub struct BcStats {
    /// Samples trained on.
    pub samples: usize,
    /// Mean squared action error in the last epoch (normalised units).
    pub final_action_mse: f64,
    /// Mean squared value error in the last epoch.
    pub final_value_mse: f64,
}

/// Fits the normaliser to the demonstrations and trains `model` (on an autodiff device) on them.
pub fn behaviour_clone(
    model: ActorCritic,
    demos: &Demos,
    cfg: &BcConfig,
    seed: u64,
) -> Result<(ActorCritic, RunningNorm, BcStats)> {
    behaviour_clone_epochs(model, demos, cfg, cfg.epochs, seed)
}

/// [`behaviour_clone`] for a given number of epochs.
pub fn behaviour_clone_epochs(
    model: ActorCritic,
    demos: &Demos,
    cfg: &BcConfig,
    epochs: usize,
    seed: u64,
) -> Result<(ActorCritic, RunningNorm, BcStats)> {
    if demos.is_empty() {
        return Err(PolicyError::Config {
            source_name: "bc".into(),
            message: "no successful demonstration to clone (bc.episodes too small?)".into(),
        });
    }
    let d = demos.obs_dim;
    let n = demos.len();
    let mut norm = RunningNorm::new(d);
    for i in 0..n {
        norm.update(&demos.obs[i * d..(i + 1) * d]);
    }
    let mut x = vec![0.0f32; n * d];
    for i in 0..n {
        norm.apply(&demos.obs[i * d..(i + 1) * d], &mut x[i * d..(i + 1) * d]);
    }
    let device = crate::device::learner_device();
    let mut model = model.trainable(&device);
    let mut optim = AdamConfig::new().init();
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 7, 0));
    let mut idx: Vec<usize> = (0..n).collect();
    let (mut a_mse, mut v_mse) = (0.0, 0.0);
    for _ in 0..epochs {
        for i in (1..n).rev() {
            idx.swap(i, rng.random_range(0..=i));
        }
        let (mut a_sum, mut v_sum, mut batches) = (0.0, 0.0, 0usize);
        for mb in idx.chunks(cfg.minibatch) {
            let b = mb.len();
            let mut o = Vec::with_capacity(b * d);
            let mut a = Vec::with_capacity(b * ACTION_DIM);
            let mut r = Vec::with_capacity(b);
            for &k in mb {
                o.extend_from_slice(&x[k * d..(k + 1) * d]);
                a.extend_from_slice(&demos.actions[k * ACTION_DIM..(k + 1) * ACTION_DIM]);
                r.push(demos.returns[k]);
            }
            let obs = Tensor::<2>::from_data(TensorData::new(o, [b, d]), &device);
            let act = Tensor::<2>::from_data(TensorData::new(a, [b, ACTION_DIM]), &device);
            let ret = Tensor::<1>::from_data(TensorData::new(r, [b]), &device);
            let action_loss = (model.mean(obs.clone()) - act).powi_scalar(2).mean();
            let value_loss = (model.value(obs) - ret).powi_scalar(2).mean();
            let loss = action_loss.clone() + value_loss.clone().mul_scalar(0.05);
            a_sum += scalar(action_loss);
            v_sum += scalar(value_loss);
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.learning_rate, model, grads);
        }
        a_mse = a_sum / batches.max(1) as f64;
        v_mse = v_sum / batches.max(1) as f64;
    }
    Ok((model, norm, BcStats { samples: n, final_action_mse: a_mse, final_value_mse: v_mse }))
}
