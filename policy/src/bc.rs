//! Behaviour cloning from the scripted grasp: demonstrations on training scenarios (successful
//! episodes kept), then the actor's mean regressed onto the demonstrated normalised actions and
//! the critic onto the demonstrations' discounted returns. The warm start for PPO.

use std::sync::Arc;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use regrasp_sim::outcome::OutcomeKind;
use regrasp_sim::scripted::{ScriptedGrasp, ScriptedParams};
use regrasp_sim::{ArmModel, EnvConfig, GraspEnv, ScenarioDistribution, ACTION_DIM};
use serde::Serialize;

use crate::config::BcConfig;
use crate::error::{PolicyError, Result};
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
    /// Normalised actions, `[samples × 5]`, clipped to ±0.97 so `tanh` can reach them.
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

/// One demonstration: observations, normalised actions, rewards, success.
type DemoEpisode = (Vec<Vec<f32>>, Vec<[f32; ACTION_DIM]>, Vec<f32>, bool);

/// Runs the scripted grasp on the scenarios of `seeds` (in parallel; the result does not depend
/// on the thread count) and keeps the successful episodes.
pub fn collect_demos(
    arm: &Arc<ArmModel>,
    env_cfg: &Arc<EnvConfig>,
    distribution: &ScenarioDistribution,
    seeds: &[u64],
    gamma: f64,
) -> Result<Demos> {
    let per_episode: Vec<DemoEpisode> = seeds
        .par_iter()
        .map(|&seed| -> Result<_> {
            let mut env = GraspEnv::new(Arc::clone(arm), Arc::clone(env_cfg))?;
            let scenario = distribution.sample(seed);
            let mut obs = env.reset(&scenario)?;
            let mut ctl = ScriptedGrasp::new(&scenario, arm, ScriptedParams::default());
            let limits = env.config().action;
            let (mut o, mut a, mut r) = (Vec::new(), Vec::new(), Vec::new());
            loop {
                let p = env.privileged().ok_or(regrasp_sim::SimError::NotRunning("no episode"))?;
                let act = ctl.act(&p, &limits).clipped(&limits);
                let norm = act.to_normalized(&limits).map(|v| v.clamp(-0.97, 0.97));
                let step = env.step(&act)?;
                o.push(obs);
                a.push(norm);
                r.push(step.reward as f32);
                obs = step.obs;
                if let Some(out) = step.outcome {
                    return Ok((o, a, r, out.kind == OutcomeKind::Success));
                }
            }
        })
        .collect::<Result<_>>()?;
    let obs_dim = per_episode.first().and_then(|e| e.0.first()).map(|o| o.len()).unwrap_or(0);
    let mut d = Demos { obs_dim, episodes: seeds.len() as u64, ..Default::default() };
    for (o, a, r, ok) in per_episode {
        d.env_steps += r.len() as u64;
        if !ok {
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
    Ok(d)
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
pub fn behaviour_clone(model: ActorCritic, demos: &Demos, cfg: &BcConfig, seed: u64) -> Result<(ActorCritic, RunningNorm, BcStats)> {
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
    let device = Device::flex().autodiff();
    let mut model = model.trainable(&device);
    let mut optim = AdamConfig::new().init();
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 7, 0));
    let mut idx: Vec<usize> = (0..n).collect();
    let (mut a_mse, mut v_mse) = (0.0, 0.0);
    for _ in 0..cfg.epochs {
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
