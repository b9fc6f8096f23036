//! What recording costs (`regrasp bench logging`): scalars logged every PPO iteration of a
//! short real training run, against the iteration's own time, and full episode recording per
//! control step, against plain exact replay. It measures; it asserts nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use regrasp_policy::config::TrainConfig;
use regrasp_policy::eval::{EpisodeId, EpisodeRecord, StoredEpisode};
use regrasp_sim::vec_env::run_controller;
use regrasp_sim::{ArmModel, EnvConfig, Scenario, ScenarioDistribution};
use serde::Serialize;

use crate::episode::replay_all;
use crate::error::Result;
use crate::recorder::{Recorder, Sink};

/// The figures.
#[derive(Clone, Debug, Serialize)]
pub struct LoggingBench {
    /// PPO iterations timed.
    pub ppo_iterations: u64,
    /// Wall time per PPO iteration, logging included (ms).
    pub ppo_iteration_ms: f64,
    /// Time spent logging scalars per iteration (µs).
    pub scalar_logging_us_per_iteration: f64,
    /// Scalar logging as a share of the iteration (%).
    pub scalar_logging_overhead_percent: f64,
    /// Control steps replayed.
    pub episode_steps: usize,
    /// Plain exact replay per control step, one thread (µs).
    pub replay_us_per_step: f64,
    /// Replay with every step recorded, per control step, one thread (µs).
    pub recorded_replay_us_per_step: f64,
    /// Replay with every step recorded, per episode (ms).
    pub recorded_replay_ms_per_episode: f64,
}

/// Runs the benchmark in the scratch directory `dir` (removed after): `iterations` PPO
/// iterations of the default config from scratch, and `episodes` expert episodes replayed
/// plainly and with full recording.
pub fn measure(dir: &Path, iterations: u64, episodes: u64) -> Result<LoggingBench> {
    let _ = std::fs::remove_dir_all(dir);
    let arm = Arc::new(ArmModel::default_arm()?);
    let env_cfg = Arc::new(EnvConfig::default());

    // 1. Scalars while training: every PPO iteration is logged; the time spent logging is
    // measured inside the callback and set against the iteration's wall time.
    let rec = Recorder::new("bench", Sink::File(dir.join("scalars.rrd")))?;
    let mut cfg = TrainConfig::default();
    cfg.total_env_steps = iterations.max(1) * (cfg.envs * cfg.rollout_steps) as u64;
    let (mut log_s, mut done) = (0.0f64, 0u64);
    let train_start = Instant::now();
    regrasp_policy::run::train(cfg, Arc::clone(&arm), &dir.join("run"), Default::default(), &mut |e| {
        if let regrasp_policy::run::Event::Iteration(s) = e {
            let t = Instant::now();
            rec.training(s.env_steps, s);
            log_s += t.elapsed().as_secs_f64();
            done += 1;
        }
    })?;
    let t = Instant::now();
    rec.flush()?;
    log_s += t.elapsed().as_secs_f64();
    let train_s = train_start.elapsed().as_secs_f64();
    let iteration_ms = 1e3 * train_s / done.max(1) as f64;
    let scalar_us = 1e6 * log_s / done.max(1) as f64;

    // 2. Full episodes: the same expert episodes replayed plainly and with every step logged.
    let dist = ScenarioDistribution::default();
    let scenarios: Vec<Scenario> = (0..episodes.max(1)).map(|i| dist.sample(9000 + i)).collect();
    let results = run_controller(Arc::clone(&arm), Arc::clone(&env_cfg), &scenarios, 1, &|| {}, true)?;
    let stored: Vec<StoredEpisode> = results
        .into_iter()
        .zip(&scenarios)
        .enumerate()
        .map(|(index, (r, s))| StoredEpisode {
            id: EpisodeId::InFile { index },
            record: EpisodeRecord {
                scenario: *s,
                policy_hash: "expert".into(),
                actions: r.actions,
                final_state_hash: r.final_state_hash,
                outcome: r.outcome,
                metrics: Default::default(),
            },
        })
        .collect();
    let steps: usize = stored.iter().map(|e| e.record.actions.len()).sum::<usize>().max(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let off = Recorder::off();
    let t = Instant::now();
    pool.install(|| replay_all(&arm, &env_cfg, &stored, &[], &off))?;
    let plain_us = 1e6 * t.elapsed().as_secs_f64() / steps as f64;
    let rec = Recorder::new("bench", Sink::File(dir.join("episodes.rrd")))?;
    let t = Instant::now();
    pool.install(|| replay_all(&arm, &env_cfg, &stored, &[], &rec))?;
    rec.flush()?;
    let recorded_us = 1e6 * t.elapsed().as_secs_f64() / steps as f64;
    let _ = std::fs::remove_dir_all(dir);
    Ok(LoggingBench {
        ppo_iterations: done,
        ppo_iteration_ms: iteration_ms,
        scalar_logging_us_per_iteration: scalar_us,
        scalar_logging_overhead_percent: 100.0 * scalar_us / (1e3 * iteration_ms),
        episode_steps: steps,
        replay_us_per_step: plain_us,
        recorded_replay_us_per_step: recorded_us,
        recorded_replay_ms_per_episode: 1e-3 * recorded_us * steps as f64 / stored.len() as f64,
    })
}
