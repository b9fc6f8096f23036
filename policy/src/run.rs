//! A training run on disk: `OUT/checkpoints/<content hash>/`, `OUT/latest` (the newest
//! checkpoint's hash) and `OUT/train_log.jsonl` (one line per event). Optionally warm-started by
//! behaviour cloning; resumable from `latest`, continuing exactly like an uninterrupted run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regrasp_sim::{ArmModel, ScenarioSource};
use serde::Serialize;

use burn::module::Module;

use crate::bc::{BcStats, Learner, behaviour_clone, behaviour_clone_epochs, collect_demos, collect_labels};
use crate::checkpoint::Checkpoint;
use crate::config::TrainConfig;
use crate::envs::GraspTask;
use crate::error::{PolicyError, Result};
use crate::ppo::{IterationStats, Progress, Trainer, TrainingEpisode, draw_seed};

/// What a run reports as it goes.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A DAgger round: the learner acted (mixed with the expert), the expert labelled.
    Dagger {
        /// Round number (1-based).
        round: usize,
        /// Probability that the expert acted.
        beta: f64,
        /// Episodes run.
        episodes: u64,
        /// Episodes that succeeded.
        successes: u64,
        /// Samples gathered so far.
        samples: usize,
        /// Fit statistics after retraining.
        stats: BcStats,
    },
    /// Demonstrations collected and cloned.
    BehaviourCloning {
        /// Demonstration episodes run.
        episodes: u64,
        /// Successful ones kept.
        kept: u64,
        /// Env steps used.
        env_steps: u64,
        /// Fit statistics.
        stats: BcStats,
    },
    /// One PPO iteration.
    Iteration(IterationStats),
    /// The episodes that ended in that iteration's rollout (logged right after it).
    Episodes {
        /// Iteration number (1-based).
        iteration: u64,
        /// The episodes, in the order they ended.
        episodes: Vec<TrainingEpisode>,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Its content hash.
        hash: String,
        /// Where.
        path: PathBuf,
        /// Env steps at that point.
        env_steps: u64,
    },
}

/// Options of [`train`].
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Warm-start by behaviour cloning from the scripted grasp.
    pub warm_start_bc: bool,
    /// Start PPO from this checkpoint (its weights, normaliser and action noise; a fresh
    /// optimizer), e.g. a champion that a challenger fine-tunes.
    pub init: Option<PathBuf>,
    /// Draw training scenarios from this source instead of the config's distribution (a
    /// curriculum). Demonstrations for a warm start still come from the distribution.
    pub source: Option<Arc<dyn ScenarioSource>>,
    /// Continue from `OUT/latest`.
    pub resume: bool,
    /// Stop after this many PPO iterations in this invocation (for tests and crash drills).
    pub max_iterations: Option<u64>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> PolicyError + '_ {
    move |source| PolicyError::Io { path: path.to_path_buf(), source }
}

/// The newest checkpoint of a run directory.
pub fn latest(out: &Path) -> Result<PathBuf> {
    let p = out.join("latest");
    let hash = std::fs::read_to_string(&p).map_err(io(&p))?;
    Ok(out.join("checkpoints").join(hash.trim()))
}

fn save(out: &Path, c: &Checkpoint, log: &mut dyn FnMut(&Event) -> Result<()>) -> Result<()> {
    let dir = out.join("checkpoints").join(&c.meta.content_hash);
    c.save(&dir)?;
    let tmp = out.join("latest.tmp");
    std::fs::write(&tmp, &c.meta.content_hash).map_err(io(&tmp))?;
    std::fs::rename(&tmp, out.join("latest")).map_err(io(out))?;
    log(&Event::Checkpoint { hash: c.meta.content_hash.clone(), path: dir, env_steps: c.meta.env_steps })
}

/// Trains on the grasping task; returns the final checkpoint.
pub fn train(
    cfg: TrainConfig,
    arm: Arc<ArmModel>,
    out: &Path,
    opts: RunOptions,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Checkpoint> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let log_path = out.join("train_log.jsonl");
    let mut log_file = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(io(&log_path))?;
    let mut log = |e: &Event| -> Result<()> {
        let line = serde_json::to_string(e).map_err(|err| PolicyError::Config {
            source_name: log_path.display().to_string(),
            message: err.to_string(),
        })?;
        writeln!(log_file, "{line}").map_err(io(&log_path))?;
        on_event(e);
        Ok(())
    };
    let env_cfg = Arc::new(cfg.env.clone());
    let make_envs = |cfg: &TrainConfig| -> Result<Vec<GraspTask>> {
        let source: Arc<dyn ScenarioSource> = match &opts.source {
            Some(s) => Arc::clone(s),
            None => Arc::new(cfg.distribution.clone()),
        };
        (0..cfg.envs).map(|_| GraspTask::new(Arc::clone(&arm), Arc::clone(&env_cfg), Arc::clone(&source))).collect()
    };

    // The checkpoint a run that does no PPO iteration now ends with: the one it resumed or its
    // warm start.
    let mut start: Option<Checkpoint> = None;
    let (mut trainer, mut parent) = if opts.resume {
        let dir = latest(out)?;
        let c = Checkpoint::load(&dir)?;
        let envs = make_envs(&c.config)?;
        let obs_dim = envs.first().map(|e| e.env().obs_dim()).unwrap_or(0);
        c.check_fits(&dir, &arm, obs_dim)?;
        let mut run_cfg = c.config.clone();
        run_cfg.total_env_steps = run_cfg.total_env_steps.max(cfg.total_env_steps);
        let progress = Progress {
            iteration: c.meta.iteration,
            env_steps: c.meta.env_steps,
            scenarios_drawn: c.meta.scenarios_drawn,
        };
        let model = c.model(&burn::prelude::Device::flex())?;
        let t = Trainer::resume(run_cfg, envs, model, &c.optimizer_bytes, c.normalizer.clone(), progress)?;
        let parent = Some(c.meta.content_hash.clone());
        start = Some(c);
        (t, parent)
    } else {
        cfg.validate("train config")?;
        let envs = make_envs(&cfg)?;
        let mut t = Trainer::new(cfg.clone(), envs)?;
        let mut parent = None;
        if let Some(dir) = &opts.init {
            let c = Checkpoint::load(dir)?;
            c.check_fits(dir, &arm, t.normalizer().dim())?;
            t.set_model(c.model(&burn::prelude::Device::flex())?, c.normalizer.clone());
            t.cfg.ppo.update_normalizer = c.config.ppo.update_normalizer;
            parent = Some(c.meta.content_hash.clone());
        } else if opts.warm_start_bc {
            let seeds: Vec<u64> = (0..cfg.bc.episodes).map(|_| draw_seed(cfg.seed, &mut t.progress)).collect();
            let mut demos = collect_demos(&arm, &env_cfg, &cfg.distribution, &seeds, cfg.ppo.gamma)?;
            let (mut model, mut norm, stats) = behaviour_clone(t.model().clone(), &demos, &cfg.bc, cfg.seed)?;
            t.progress.env_steps += demos.env_steps;
            log(&Event::BehaviourCloning {
                episodes: demos.episodes,
                kept: demos.kept,
                env_steps: demos.env_steps,
                stats,
            })?;
            let rounds = cfg.bc.dagger_rounds;
            for round in 1..=rounds {
                let beta = cfg.bc.dagger_beta * (rounds - round) as f64 / rounds.max(2).saturating_sub(1) as f64;
                let seeds: Vec<u64> =
                    (0..cfg.bc.dagger_episodes).map(|_| draw_seed(cfg.seed, &mut t.progress)).collect();
                let net = model.valid().to_inference();
                let learner = Learner { net: &net, norm: &norm, beta, seed: cfg.seed ^ round as u64 };
                let (gathered, successes) =
                    collect_labels(&arm, &env_cfg, &cfg.distribution, &seeds, cfg.ppo.gamma, Some(learner))?;
                t.progress.env_steps += gathered.env_steps;
                demos.extend(&gathered);
                let (m, n, stats) =
                    behaviour_clone_epochs(model, &demos, &cfg.bc, cfg.bc.dagger_epochs, cfg.seed ^ round as u64)?;
                model = m;
                norm = n;
                log(&Event::Dagger {
                    round,
                    beta,
                    episodes: seeds.len() as u64,
                    successes,
                    samples: demos.len(),
                    stats,
                })?;
            }
            t.set_model(model.with_log_std(cfg.bc.finetune_log_std.values()), norm);
            // The cloned policy keeps the normalisation it was fitted with (stored in the
            // checkpoint's config, so a resumed run keeps it too).
            t.cfg.ppo.update_normalizer = false;
            let p = t.progress;
            let c = Checkpoint::new(
                t.model(),
                t.optimizer_bytes()?,
                t.normalizer().clone(),
                t.cfg.clone(),
                "bc",
                None,
                (p.iteration, p.env_steps, p.scenarios_drawn),
                &arm,
            )?;
            save(out, &c, &mut log)?;
            parent = Some(c.meta.content_hash.clone());
            start = Some(c);
        }
        (t, parent)
    };

    let mut last: Option<Checkpoint> = start;
    let mut ran = 0u64;
    while !trainer.done() && opts.max_iterations.is_none_or(|m| ran < m) {
        let stats = trainer.iterate()?;
        ran += 1;
        let iteration = stats.iteration;
        log(&Event::Iteration(stats))?;
        log(&Event::Episodes { iteration, episodes: trainer.last_episodes().to_vec() })?;
        let p = trainer.progress;
        if p.iteration % trainer.cfg.checkpoint_every == 0 || trainer.done() {
            let c = Checkpoint::new(
                trainer.model(),
                trainer.optimizer_bytes()?,
                trainer.normalizer().clone(),
                trainer.cfg.clone(),
                "ppo",
                parent.clone(),
                (p.iteration, p.env_steps, p.scenarios_drawn),
                &arm,
            )?;
            save(out, &c, &mut log)?;
            parent = Some(c.meta.content_hash.clone());
            last = Some(c);
        }
    }
    match last {
        Some(c) => Ok(c),
        None => {
            let p = trainer.progress;
            let stage = if p.iteration == 0 { "init" } else { "ppo" };
            let c = Checkpoint::new(
                trainer.model(),
                trainer.optimizer_bytes()?,
                trainer.normalizer().clone(),
                trainer.cfg.clone(),
                stage,
                parent,
                (p.iteration, p.env_steps, p.scenarios_drawn),
                &arm,
            )?;
            save(out, &c, &mut log)?;
            Ok(c)
        }
    }
}
