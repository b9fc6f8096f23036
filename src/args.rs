//! Argument groups several verbs share (the arm, the world, recording, progress output), and
//! how a few results are put in words.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use regrasp_logs::{Recorder, Sampling, Sink};
use regrasp_sim::{ArmModel, EnvConfig, Scenario, ScenarioDistribution};

/// Which arm: the shipped one, or a URDF with its profile.
#[derive(Args, Clone, Debug)]
pub struct ArmArgs {
    /// A shipped arm by name (`regrasp-arm5`, the default, or `so101`), or an arm URDF file
    /// together with --arm-profile.
    #[arg(long)]
    pub arm: Option<String>,
    /// Arm profile TOML naming the arm joints, the gripper (kind, joints, pads), the
    /// end-effector link and the tool frame; --arm is then the URDF file.
    #[arg(long, requires = "arm")]
    pub arm_profile: Option<PathBuf>,
}

impl ArmArgs {
    /// The arm model.
    pub fn load(&self) -> Result<Arc<ArmModel>> {
        Ok(Arc::new(ArmModel::from_arg(self.arm.as_deref(), self.arm_profile.as_deref())?))
    }
}

/// Which arm, env configuration and scenario distribution to use.
#[derive(Args, Clone, Debug)]
pub struct WorldArgs {
    #[command(flatten)]
    pub arm: ArmArgs,
    /// Env config TOML (rates, solver, contacts, action bounds, workspace, motor gains, outcome
    /// thresholds, reward weights); absent fields take the arm's task's values. Every field,
    /// with its unit and default, is in examples/env.toml.
    #[arg(long)]
    pub env_config: Option<PathBuf>,
    /// Scenario distribution TOML (default: the arm's training distribution; absent fields
    /// take its values); every field, with its unit and default, is in
    /// examples/distribution.toml.
    #[arg(long)]
    pub distribution: Option<PathBuf>,
}

impl WorldArgs {
    /// The arm, the env config and the distribution: the arm's task, with the files' fields
    /// over it.
    pub fn load(&self) -> Result<(Arc<ArmModel>, Arc<EnvConfig>, ScenarioDistribution)> {
        let arm = self.arm.load()?;
        let cfg = arm.task.env_config(self.env_config.as_deref())?;
        let dist = arm.task.scenario_distribution(self.distribution.as_deref())?;
        Ok((arm, Arc::new(cfg), dist))
    }
}

/// The scenario the operator sets up (and the emulator's twin places).
#[derive(Args, Clone)]
pub struct ScenarioArg {
    /// Scenario file (TOML or JSON); default: the training distribution's scenario for --seed.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Seed of the scenario drawn from the arm's training distribution when no file is given.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ScenarioArg {
    /// The scenario: the file, or `distribution`'s scenario for `--seed`.
    pub fn load(&self, distribution: &ScenarioDistribution) -> Result<Scenario> {
        Ok(match &self.scenario {
            Some(p) => Scenario::from_path(p)?,
            None => distribution.sample(self.seed),
        })
    }
}

/// `--json`: what a verb measured as one JSON object on stdout instead of text.
#[derive(Args, Clone, Copy, Debug)]
pub struct JsonArg {
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Where and what to record in rerun.
#[derive(Args, Clone, Debug)]
pub struct RecordArgs {
    /// Stream to a rerun viewer started now (needs the `rerun` 0.36 viewer on PATH) instead of
    /// writing the .rrd file.
    #[arg(long)]
    pub spawn: bool,
    /// Stream to a running rerun viewer at this address (e.g. rerun+http://127.0.0.1:9876/proxy)
    /// instead of writing the .rrd file.
    #[arg(long, conflicts_with = "spawn")]
    pub connect: Option<String>,
    /// Record nothing.
    #[arg(long, conflicts_with_all = ["spawn", "connect"])]
    pub no_record: bool,
    /// Record every Nth evaluated episode in full (0 = none).
    #[arg(long, default_value_t = 50)]
    pub record_every: usize,
    /// Record at most this many episodes in full per evaluation, failures first (0 = no limit).
    #[arg(long, default_value_t = 10)]
    pub record_limit: usize,
    /// Do not record every failed episode in full.
    #[arg(long)]
    pub no_record_failures: bool,
}

impl RecordArgs {
    /// The recorder, writing to `file` unless told otherwise.
    pub fn recorder(&self, name: &str, file: &Path) -> Result<Recorder> {
        let sink =
            if self.no_record { Sink::Off } else { Sink::from_flags(self.spawn, self.connect.as_deref(), Some(file)) };
        Ok(Recorder::new(name, sink)?)
    }

    /// Which evaluated episodes are recorded in full.
    pub fn sampling(&self) -> Sampling {
        Sampling { every_nth: self.record_every, failures: !self.no_record_failures, limit: self.record_limit }
    }
}

/// Where a recorder writes, in words.
pub fn sink_name(rec: &Recorder) -> String {
    match rec.sink() {
        Sink::File(p) => p.display().to_string(),
        Sink::Spawn => "a spawned rerun viewer".into(),
        Sink::Connect(addr) => format!("the rerun viewer at {addr}"),
        Sink::Off => "nothing (recording off)".into(),
    }
}

/// A progress bar of `n` steps on stderr, hidden when `json` output goes to a pipe.
pub fn progress(n: u64, json: bool) -> ProgressBar {
    use std::io::IsTerminal;
    let pb = ProgressBar::new(n);
    if json && !std::io::stderr().is_terminal() {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// A line on stderr stamped with the time since `start` (hh:mm:ss).
pub fn log_line(start: std::time::Instant, line: &str) {
    let t = start.elapsed().as_secs();
    eprintln!("[{:02}:{:02}:{:02}] {line}", t / 3600, t / 60 % 60, t % 60);
}

/// A TOML settings file, or the defaults when none is given.
pub fn toml_file<T: serde::de::DeserializeOwned + Default>(path: &Option<PathBuf>) -> Result<T> {
    match path {
        None => Ok(T::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("{}", p.display()))
        }
    }
}
