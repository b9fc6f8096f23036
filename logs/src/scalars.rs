//! Time series and summaries: training scalars per PPO iteration (on the `env_steps`
//! timeline), and per self-improvement generation (on the `generation` timeline) the suites'
//! success, the curriculum's composition and parameter histograms, failures per mode and the
//! gate's decision.

use std::collections::BTreeMap;

use regrasp_policy::ppo::IterationStats;
use rerun::RecordingStream;
use serde::{Deserialize, Serialize};

use crate::paths;

fn scalar(rec: &RecordingStream, path: String, v: f64) {
    if v.is_finite() {
        let _ = rec.log(path, &rerun::Scalars::single(v));
    }
}

/// Logs one PPO iteration at `env_steps` (the caller's running total, so that several
/// training runs of one loop line up).
pub fn log_training(rec: &RecordingStream, env_steps: u64, s: &IterationStats) {
    rec.set_time_sequence("env_steps", env_steps as i64);
    let rate = if s.episodes > 0 { s.successes as f64 / s.episodes as f64 } else { f64::NAN };
    scalar(rec, format!("{}/success_rate", paths::TRAIN_PROGRESS), rate);
    scalar(
        rec,
        format!("{}/mean_return", paths::TRAIN_PROGRESS),
        if s.episodes > 0 { s.mean_return } else { f64::NAN },
    );
    scalar(rec, format!("{}/policy_loss", paths::TRAIN_LOSSES), s.policy_loss);
    scalar(rec, format!("{}/value_loss", paths::TRAIN_LOSSES), s.value_loss);
    scalar(rec, format!("{}/entropy", paths::TRAIN_LOSSES), s.entropy);
    scalar(rec, format!("{}/learning_rate", paths::TRAIN_LOSSES), s.learning_rate);
    scalar(rec, format!("{}/env_steps_per_s", paths::TRAIN_SPEED), s.env_steps_per_s);
    scalar(rec, format!("{}/learner_samples_per_s", paths::TRAIN_SPEED), s.learner_samples_per_s);
}

/// One decided generation of the self-improvement loop.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct GenerationLog {
    /// Generation number.
    pub generation: u32,
    /// Success (fraction) of champion and challenger per suite (`heldout`, `ood`, `canary`, `probe`).
    pub success: BTreeMap<String, (f64, f64)>,
    /// Curriculum share per generator.
    pub composition: Vec<(String, f64)>,
    /// Scenario-parameter samples of the curriculum, per parameter (its unit in the name, e.g.
    /// `mass_kg`; the name becomes an entity path).
    pub parameters: Vec<(String, Vec<f64>)>,
    /// The champion's probe failures per mode.
    pub failures: BTreeMap<String, u64>,
    /// Promoted or rolled back.
    pub promoted: bool,
    /// The gate's reasons, in words.
    pub reasons: String,
}

/// Bins of the parameter histograms.
pub const HISTOGRAM_BINS: usize = 20;

/// Counts of `values` in `bins` equal bins over their range; returns (lo, hi, counts).
pub fn histogram(values: &[f64], bins: usize) -> (f64, f64, Vec<f64>) {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut counts = vec![0.0; bins.max(1)];
    if finite.is_empty() {
        return (0.0, 0.0, counts);
    }
    let width = (hi - lo).max(f64::MIN_POSITIVE);
    for v in finite {
        let b = (((v - lo) / width) * bins as f64).floor() as usize;
        counts[b.min(bins - 1)] += 1.0;
    }
    (lo, hi, counts)
}

/// Logs a decided generation at `generation`.
pub fn log_generation(rec: &RecordingStream, g: &GenerationLog) {
    rec.set_time_sequence("generation", g.generation as i64);
    for (suite, (champion, challenger)) in &g.success {
        scalar(rec, format!("{}/{suite}/champion", paths::IMPROVE_SUCCESS), *champion);
        scalar(rec, format!("{}/{suite}/challenger", paths::IMPROVE_SUCCESS), *challenger);
    }
    for (mode, n) in &g.failures {
        scalar(rec, format!("{}/{mode}", paths::IMPROVE_FAILURES), *n as f64);
    }
    let shares: Vec<f64> = g.composition.iter().map(|(_, v)| *v).collect();
    let _ = rec.log(paths::IMPROVE_CURRICULUM, &rerun::BarChart::new(shares));
    let names: Vec<String> = g.composition.iter().map(|(k, v)| format!("{k} {:.0}%", 100.0 * v)).collect();
    let _ = rec.log(format!("{}/generators", paths::IMPROVE_CURRICULUM), &rerun::TextDocument::new(names.join("\n")));
    for (name, values) in &g.parameters {
        let (lo, hi, counts) = histogram(values, HISTOGRAM_BINS);
        let _ = rec.log(format!("{}/{name}", paths::IMPROVE_PARAMS), &rerun::BarChart::new(counts));
        let _ = rec.log(
            format!("{}/{name}/range", paths::IMPROVE_PARAMS),
            &rerun::TextDocument::new(format!("{name}: {HISTOGRAM_BINS} bins from {lo:.4} to {hi:.4}")),
        );
    }
    let level = if g.promoted { rerun::TextLogLevel::INFO } else { rerun::TextLogLevel::WARN };
    let text =
        format!("generation {}: {} — {}", g.generation, if g.promoted { "promoted" } else { "rolled back" }, g.reasons);
    let _ = rec.log(paths::IMPROVE_DECISIONS, &rerun::TextLog::new(text).with_level(level));
}

/// One control tick of a hardware session: joint targets sent and joint positions read (rad or
/// m), on the `tick` timeline and the session's elapsed time (s).
pub fn log_hardware_tick(
    rec: &RecordingStream,
    tick: u64,
    elapsed_s: f64,
    joint_names: &[String],
    commanded: &[f64],
    measured: &[f64],
) {
    rec.set_time_sequence("tick", tick as i64);
    rec.set_duration_secs("session_time", elapsed_s);
    for (i, name) in joint_names.iter().enumerate() {
        if let Some(c) = commanded.get(i) {
            scalar(rec, format!("{}/{name}/commanded", paths::HW_JOINTS), *c);
        }
        if let Some(m) = measured.get(i) {
            scalar(rec, format!("{}/{name}/measured", paths::HW_JOINTS), *m);
        }
    }
}

/// A safety-envelope intervention or a fault during a hardware session, at the current tick.
pub fn log_hardware_event(rec: &RecordingStream, fault: bool, text: &str) {
    let level = if fault { rerun::TextLogLevel::ERROR } else { rerun::TextLogLevel::WARN };
    let _ = rec.log(paths::HW_EVENTS, &rerun::TextLog::new(text).with_level(level));
}
