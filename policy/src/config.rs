//! `TrainConfig`: everything a training run reads (TOML, serde defaults, validated with named
//! fields). It is stored inside every checkpoint.

use std::path::Path;

/// The action log-std type of `bc.finetune_log_std` (owned by the arm task, whose profile gives
/// each arm its default).
pub use regrasp_sim::LogStd;
use regrasp_sim::{EnvConfig, ScenarioDistribution};
use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, Result};

/// PPO hyper-parameters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PpoConfig {
    /// Adam learning rate at the start.
    pub learning_rate: f64,
    /// Learning rate at the end of the step budget (linear schedule).
    pub final_learning_rate: f64,
    /// Discount per control step.
    pub gamma: f64,
    /// GAE λ.
    pub gae_lambda: f64,
    /// Clip range of the probability ratio.
    pub clip: f64,
    /// Passes over each rollout.
    pub epochs: usize,
    /// Samples per minibatch.
    pub minibatch: usize,
    /// Weight of the value loss.
    pub value_coef: f64,
    /// Weight of the entropy bonus.
    pub entropy_coef: f64,
    /// Global gradient-norm clip.
    pub max_grad_norm: f64,
    /// Keep updating the observation normaliser with rollout data. A warm start turns this off:
    /// a cloned policy was fitted to the demonstrations' statistics, and shifting them under it
    /// changes its behaviour without any gradient step.
    pub update_normalizer: bool,
    /// Each minibatch is cut into this many contiguous shards whose gradients are computed on
    /// their own threads and summed (1: one thread). The sum is the minibatch's gradient up to
    /// floating-point rounding, so results depend on the shard count (never on the machine's
    /// core count): changing it is a change to training, judged as one. Written to a
    /// checkpoint's config only when not 1, so checkpoints from before it keep their hashes.
    #[serde(skip_serializing_if = "is_one")]
    pub learner_shards: usize,
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            learning_rate: 3e-4,
            final_learning_rate: 3e-5,
            gamma: 0.99,
            gae_lambda: 0.95,
            clip: 0.2,
            epochs: 4,
            minibatch: 512,
            value_coef: 0.5,
            entropy_coef: 0.0,
            max_grad_norm: 0.5,
            update_normalizer: true,
            learner_shards: 1,
        }
    }
}

/// Behaviour-cloning warm start from the scripted grasp.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BcConfig {
    /// Scripted demonstration episodes (successful ones are kept).
    pub episodes: u64,
    /// Passes over the demonstrations.
    pub epochs: usize,
    /// Samples per minibatch.
    pub minibatch: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// DAgger rounds after the demonstrations (0: plain behaviour cloning).
    pub dagger_rounds: usize,
    /// Episodes per DAgger round.
    pub dagger_episodes: u64,
    /// Passes over all gathered samples after each round.
    pub dagger_epochs: usize,
    /// Probability that the expert acts in the first round; it falls linearly to 0 by the last.
    pub dagger_beta: f64,
    /// Action log-std PPO fine-tuning starts from after the warm start (normalised units):
    /// small, so exploration does not wreck the cloned policy. One value for every dimension, or
    /// one per dimension `[dx, dy, dz, dyaw, gripper]`.
    pub finetune_log_std: LogStd,
}

impl Default for BcConfig {
    fn default() -> Self {
        Self {
            episodes: 300,
            epochs: 40,
            minibatch: 256,
            learning_rate: 1e-3,
            dagger_rounds: 8,
            dagger_episodes: 150,
            dagger_epochs: 8,
            dagger_beta: 0.5,
            finetune_log_std: LogStd::Uniform(-1.6),
        }
    }
}

/// Model shape.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Hidden width of each head.
    pub hidden: usize,
    /// Initial action log-std (normalised units).
    pub init_log_std: f32,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { hidden: 128, init_log_std: -0.7 }
    }
}

/// A training run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Seed of every random choice of the run (scenarios, initialisation, exploration).
    pub seed: u64,
    /// Envs stepped in parallel.
    pub envs: usize,
    /// Control steps per env per PPO iteration.
    pub rollout_steps: usize,
    /// Env control-step budget of PPO (all envs together).
    pub total_env_steps: u64,
    /// Save a checkpoint every this many PPO iterations (and at the end).
    pub checkpoint_every: u64,
    /// Model shape.
    pub model: ModelConfig,
    /// PPO.
    pub ppo: PpoConfig,
    /// Behaviour cloning (used with `--warm-start bc`).
    pub bc: BcConfig,
    /// The env.
    pub env: EnvConfig,
    /// The training scenario distribution.
    pub distribution: ScenarioDistribution,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            envs: 16,
            rollout_steps: 128,
            total_env_steps: 1_000_000,
            checkpoint_every: 10,
            model: ModelConfig::default(),
            ppo: PpoConfig::default(),
            bc: BcConfig::default(),
            env: EnvConfig::default(),
            distribution: ScenarioDistribution::default(),
        }
    }
}

impl TrainConfig {
    /// Loads and validates a TOML file; absent fields take their defaults.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| PolicyError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The defaults for an arm with `task`: its env config, training distribution and fine-tuning
    /// exploration noise (`[task.exploration]`).
    pub fn defaults_for(task: &regrasp_sim::Task) -> Self {
        let mut c = Self { env: task.env.clone(), distribution: task.distribution.clone(), ..Self::default() };
        c.bc.finetune_log_std = task.exploration.finetune_log_std;
        c
    }

    /// Loads and validates a TOML file for an arm with `task`: absent fields, however deep,
    /// take [`Self::defaults_for`] that task (so a config without `[env]` or `[distribution]`
    /// trains on the arm's own task).
    pub fn from_path_for(path: &Path, task: &regrasp_sim::Task) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| PolicyError::Io { path: path.to_path_buf(), source })?;
        let source_name = path.display().to_string();
        let c: TrainConfig =
            regrasp_sim::task::overlay_text(&Self::defaults_for(task), &text, &source_name).map_err(|e| {
                let message = match e {
                    regrasp_sim::SimError::Parse { message, .. } => message,
                    other => other.to_string(),
                };
                PolicyError::Config { source_name: source_name.clone(), message }
            })?;
        c.validate(&source_name)?;
        Ok(c)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        let c: TrainConfig = toml::from_str(text)
            .map_err(|e| PolicyError::Config { source_name: source_name.into(), message: e.to_string() })?;
        c.validate(source_name)?;
        Ok(c)
    }

    /// Checks every field.
    pub fn validate(&self, src: &str) -> Result<()> {
        let bad = |field: &str, allowed: &str, value: String| {
            Err(PolicyError::Config {
                source_name: src.into(),
                message: format!("field `{field}` = {value} is out of range; allowed {allowed}"),
            })
        };
        let in_range = |v: f64, lo: f64, hi: f64| v.is_finite() && v >= lo && v <= hi;
        if !(1..=1024).contains(&self.envs) {
            return bad("envs", "[1, 1024]", self.envs.to_string());
        }
        if !(1..=100_000).contains(&self.rollout_steps) {
            return bad("rollout_steps", "[1, 100000]", self.rollout_steps.to_string());
        }
        if self.checkpoint_every == 0 {
            return bad("checkpoint_every", "[1, ∞)", "0".into());
        }
        if !(4..=4096).contains(&self.model.hidden) {
            return bad("model.hidden", "[4, 4096]", self.model.hidden.to_string());
        }
        if let Some(v) = self.bc.finetune_log_std.out_of_range() {
            return bad("bc.finetune_log_std", LogStd::ALLOWED, v.to_string());
        }
        if !in_range(self.model.init_log_std as f64, -5.0, 2.0) {
            return bad("model.init_log_std", "[-5, 2]", self.model.init_log_std.to_string());
        }
        let p = &self.ppo;
        for (f, v, lo, hi) in [
            ("ppo.learning_rate", p.learning_rate, 0.0, 1.0),
            ("ppo.final_learning_rate", p.final_learning_rate, 0.0, 1.0),
            ("ppo.gamma", p.gamma, 0.0, 1.0),
            ("ppo.gae_lambda", p.gae_lambda, 0.0, 1.0),
            ("ppo.clip", p.clip, 0.0, 1.0),
            ("ppo.value_coef", p.value_coef, 0.0, 100.0),
            ("ppo.entropy_coef", p.entropy_coef, 0.0, 1.0),
            ("ppo.max_grad_norm", p.max_grad_norm, 0.0, 1e6),
            ("bc.learning_rate", self.bc.learning_rate, 0.0, 1.0),
            ("bc.dagger_beta", self.bc.dagger_beta, 0.0, 1.0),
        ] {
            if !in_range(v, lo, hi) {
                return bad(f, &format!("[{lo}, {hi}]"), v.to_string());
            }
        }
        if p.epochs == 0 || p.minibatch == 0 || self.bc.minibatch == 0 {
            return bad("ppo.epochs / ppo.minibatch / bc.minibatch", "[1, ∞)", "0".into());
        }
        if !(1..=16).contains(&p.learner_shards) {
            return bad("ppo.learner_shards", "[1, 16]", p.learner_shards.to_string());
        }
        self.env.validate(src)?;
        self.distribution.validate(src)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_exploration_log_std_is_written_as_a_number_and_five_as_an_array() {
        let one = TrainConfig::parse("[bc]\nfinetune_log_std = -2.0\n", "test").unwrap();
        assert_eq!(one.bc.finetune_log_std.values(), [-2.0; 5]);
        // A number, as before per-dimension values existed: earlier checkpoints keep their hashes.
        assert!(toml::to_string(&one).unwrap().contains("finetune_log_std = -2.0\n"));
        let five = TrainConfig::parse("[bc]\nfinetune_log_std = [-2.0, -2.0, -2.0, -2.0, -0.5]\n", "test").unwrap();
        assert_eq!(five.bc.finetune_log_std.values(), [-2.0, -2.0, -2.0, -2.0, -0.5]);
        let again = TrainConfig::parse(&toml::to_string(&five).unwrap(), "again").unwrap();
        assert_eq!(again, five);
    }

    #[test]
    fn an_exploration_log_std_out_of_range_or_of_the_wrong_length_is_refused_by_name() {
        for text in [
            "[bc]\nfinetune_log_std = [-2.0, -2.0, -2.0, -2.0, 3.0]\n",
            "[bc]\nfinetune_log_std = -9.0\n",
            "[bc]\nfinetune_log_std = [-2.0, -2.0]\n",
            "[bc]\nfinetune_log_std = \"wide\"\n",
        ] {
            let e = TrainConfig::parse(text, "cfg.toml").unwrap_err().to_string();
            assert!(e.contains("cfg.toml") && e.contains("finetune_log_std"), "{text}: {e}");
        }
    }
}
