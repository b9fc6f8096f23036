//! Checkpoints: a directory with the burn record of the model (`model.bpk`), the optimizer state
//! (`optimizer.bpk`, for resuming), the observation normaliser (`normalizer.json`), the training
//! config (`config.toml`) and metadata (`meta.json`: content hash, parent hash, env steps,
//! arm hash, code version). The content hash covers every other file, so a truncated, altered
//! or mismatched checkpoint is refused with the reason instead of silently loading.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::Device;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use regrasp_sim::hash::Fnv64;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{PolicyError, Result};
use crate::model::{ActorCritic, ActorCriticConfig};
use crate::normalizer::RunningNorm;

/// Version of the checkpoint layout; other versions are refused.
pub const FORMAT_VERSION: u32 = 1;

/// What a checkpoint says about itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// [`FORMAT_VERSION`] at writing.
    pub format_version: u32,
    /// Identity of the policy: FNV-1a (hex) of its weights, normaliser and config.
    pub content_hash: String,
    /// FNV-1a (hex) of each file of the checkpoint but this one.
    pub file_hashes: std::collections::BTreeMap<String, String>,
    /// Content hash of the checkpoint this one was trained from.
    pub parent_hash: Option<String>,
    /// How it was made: `init`, `bc` or `ppo`.
    pub stage: String,
    /// PPO iterations completed.
    pub iteration: u64,
    /// Env control steps consumed (demonstrations included).
    pub env_steps: u64,
    /// Training scenarios drawn so far (the next one is `training_seed(seed, scenarios_drawn)`).
    pub scenarios_drawn: u64,
    /// Observation length.
    pub obs_dim: usize,
    /// Action length.
    pub action_dim: usize,
    /// Content hash (hex) of the arm description (URDF + profile) it was trained on.
    pub arm_hash: String,
    /// Name of that arm.
    pub arm_name: String,
    /// Version of regrasp that wrote it.
    pub code_version: String,
}

/// A checkpoint in memory.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Metadata.
    pub meta: CheckpointMeta,
    /// The training config.
    pub config: TrainConfig,
    /// Observation normaliser.
    pub normalizer: RunningNorm,
    /// Burnpack bytes of the model record.
    pub model_bytes: Vec<u8>,
    /// Burnpack bytes of the optimizer record (empty if none).
    pub optimizer_bytes: Vec<u8>,
}

fn file_hash(bytes: &[u8]) -> String {
    let mut h = Fnv64::new();
    h.write(bytes);
    format!("{:016x}", h.finish())
}

/// The identity of a policy: its weights in a fixed order, its normaliser and its config.
pub fn content_hash(net: &crate::inference::PolicyNet, normalizer: &[u8], config: &[u8]) -> String {
    let mut h = Fnv64::new();
    for layer in net.actor.iter().chain(net.critic.iter()) {
        h.write_u64(layer.d_in as u64);
        h.write_u64(layer.d_out as u64);
        for v in layer.w.iter().chain(layer.b.iter()) {
            h.write_f32(*v);
        }
    }
    for v in &net.log_std {
        h.write_f32(*v);
    }
    for part in [normalizer, config] {
        h.write_u64(part.len() as u64);
        h.write(part);
    }
    format!("{:016x}", h.finish())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|source| PolicyError::Io { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, path).map_err(|source| PolicyError::Io { path: path.to_path_buf(), source })
}

impl Checkpoint {
    /// Builds a checkpoint from a model and its companions; computes the content hash.
    pub fn new(
        model: &ActorCritic,
        optimizer_bytes: Vec<u8>,
        normalizer: RunningNorm,
        config: TrainConfig,
        stage: &str,
        parent_hash: Option<String>,
        progress: (u64, u64, u64),
        arm: &regrasp_sim::ArmModel,
    ) -> Result<Self> {
        let model_bytes = model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| PolicyError::Checkpoint { path: PathBuf::from("<memory>"), reason: e.to_string() })?
            .to_vec();
        let mut c = Checkpoint {
            meta: CheckpointMeta {
                format_version: FORMAT_VERSION,
                content_hash: String::new(),
                file_hashes: Default::default(),
                parent_hash,
                stage: stage.into(),
                iteration: progress.0,
                env_steps: progress.1,
                scenarios_drawn: progress.2,
                obs_dim: normalizer.dim(),
                action_dim: regrasp_sim::ACTION_DIM,
                arm_hash: format!("{:016x}", arm.content_hash),
                arm_name: arm.profile.name.clone(),
                code_version: env!("CARGO_PKG_VERSION").into(),
            },
            config,
            normalizer,
            model_bytes,
            optimizer_bytes,
        };
        let (n, t) = c.texts()?;
        c.meta.content_hash = content_hash(&model.valid().to_inference(), n.as_bytes(), t.as_bytes());
        for (name, bytes) in [
            ("model.bpk", &c.model_bytes[..]),
            ("optimizer.bpk", &c.optimizer_bytes[..]),
            ("normalizer.json", n.as_bytes()),
            ("config.toml", t.as_bytes()),
        ] {
            c.meta.file_hashes.insert(name.into(), file_hash(bytes));
        }
        Ok(c)
    }

    fn texts(&self) -> Result<(String, String)> {
        let n = serde_json::to_string(&self.normalizer)
            .map_err(|e| PolicyError::Config { source_name: "normalizer".into(), message: e.to_string() })?;
        let t = toml::to_string(&self.config)
            .map_err(|e| PolicyError::Config { source_name: "config".into(), message: e.to_string() })?;
        Ok((n, t))
    }

    /// Writes the checkpoint into `dir` (created if needed); `meta.json` is written last, so a
    /// crash mid-way leaves a directory that fails to load rather than a wrong checkpoint.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| PolicyError::Io { path: dir.to_path_buf(), source })?;
        let (n, t) = self.texts()?;
        write_atomic(&dir.join("model.bpk"), &self.model_bytes)?;
        write_atomic(&dir.join("optimizer.bpk"), &self.optimizer_bytes)?;
        write_atomic(&dir.join("normalizer.json"), n.as_bytes())?;
        write_atomic(&dir.join("config.toml"), t.as_bytes())?;
        let meta = serde_json::to_string_pretty(&self.meta)
            .map_err(|e| PolicyError::Config { source_name: "meta".into(), message: e.to_string() })?;
        write_atomic(&dir.join("meta.json"), meta.as_bytes())
    }

    /// Reads and verifies a checkpoint directory.
    pub fn load(dir: &Path) -> Result<Self> {
        let bad = |reason: String| PolicyError::Checkpoint { path: dir.to_path_buf(), reason };
        if !dir.is_dir() {
            return Err(bad("not a checkpoint directory (expected meta.json, model.bpk, …)".into()));
        }
        let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| bad(format!("{name}: {e}")));
        let meta_bytes = read("meta.json")?;
        let meta: CheckpointMeta = serde_json::from_slice(&meta_bytes).map_err(|e| bad(format!("meta.json: {e}")))?;
        if meta.format_version != FORMAT_VERSION {
            return Err(bad(format!(
                "meta.json: format_version {} is not supported (this build reads {FORMAT_VERSION})",
                meta.format_version
            )));
        }
        let model_bytes = read("model.bpk")?;
        let optimizer_bytes = read("optimizer.bpk")?;
        let n = read("normalizer.json")?;
        let t = read("config.toml")?;
        for (name, bytes) in [
            ("model.bpk", &model_bytes),
            ("optimizer.bpk", &optimizer_bytes),
            ("normalizer.json", &n),
            ("config.toml", &t),
        ] {
            let want = meta.file_hashes.get(name).ok_or_else(|| bad(format!("meta.json lists no hash for {name}")))?;
            let got = file_hash(bytes);
            if &got != want {
                return Err(bad(format!(
                    "{name}: hash {got} does not match meta.json's {want} (truncated or altered)"
                )));
            }
        }
        let normalizer: RunningNorm = serde_json::from_slice(&n).map_err(|e| bad(format!("normalizer.json: {e}")))?;
        if !normalizer.is_finite() || normalizer.dim() != meta.obs_dim {
            return Err(bad("normalizer.json: non-finite statistics or wrong length".into()));
        }
        let t = String::from_utf8(t).map_err(|e| bad(format!("config.toml: {e}")))?;
        let config = TrainConfig::parse(&t, &dir.join("config.toml").display().to_string())?;
        let c = Checkpoint { meta, config, normalizer, model_bytes, optimizer_bytes };
        // The model must load, and be the policy the metadata names.
        let net = c.model(&Device::flex())?.to_inference();
        let identity = content_hash(&net, &n, t.as_bytes());
        if identity != c.meta.content_hash {
            return Err(bad(format!(
                "the weights hash to {identity}, not to the content hash {}",
                c.meta.content_hash
            )));
        }
        Ok(c)
    }

    /// The model config this checkpoint was trained with.
    pub fn model_config(&self) -> ActorCriticConfig {
        ActorCriticConfig::new(self.meta.obs_dim, self.meta.action_dim)
            .with_hidden(self.config.model.hidden)
            .with_init_log_std(self.config.model.init_log_std)
    }

    /// The model, on `device`.
    pub fn model(&self, device: &Device) -> Result<ActorCritic> {
        let bad = |reason: String| PolicyError::Checkpoint { path: PathBuf::from(&self.meta.content_hash), reason };
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(self.model_bytes.clone()))
            .map_err(|e| bad(format!("model.bpk: {e}")))?;
        let fresh = self.model_config().init(0, device);
        fresh.try_load_record(record).map_err(|e| bad(format!("model.bpk does not fit the model: {e}")))
    }

    /// Checks that this checkpoint fits `arm` and an observation of `obs_dim`.
    pub fn check_fits(&self, path: &Path, arm: &regrasp_sim::ArmModel, obs_dim: usize) -> Result<()> {
        let mismatch = |what: &str, expected: String, found: String| {
            Err(PolicyError::Mismatch { path: path.to_path_buf(), what: what.into(), expected, found })
        };
        if self.meta.obs_dim != obs_dim {
            return mismatch("observation length", obs_dim.to_string(), self.meta.obs_dim.to_string());
        }
        let arm_hash = format!("{:016x}", arm.content_hash);
        if self.meta.arm_hash != arm_hash {
            return mismatch(
                "arm description hash",
                format!("{arm_hash} ({})", arm.profile.name),
                format!("{} ({})", self.meta.arm_hash, self.meta.arm_name),
            );
        }
        Ok(())
    }
}
