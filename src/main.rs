//! The `regrasp` command line: thin verbs over the workspace crates.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use regrasp_sim::outcome::OutcomeKind;
use regrasp_sim::vec_env::run_scripted;
use regrasp_sim::{ArmModel, EnvConfig, Scenario, ScenarioDistribution};
use serde::Serialize;

/// regrasp: a self-improving robot grasping system.
#[derive(Parser)]
#[command(name = "regrasp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scripted grasp (true object pose) over scenarios from the training distribution.
    Scripted(ScriptedArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Control and physics steps per second on the default scene, one thread and all cores.
    Sim(BenchSimArgs),
}

/// Which arm and env configuration to use.
#[derive(Args, Clone)]
struct WorldArgs {
    /// Arm URDF (default: the shipped 5-DoF arm). Needs --arm-profile.
    #[arg(long, requires = "arm_profile")]
    arm: Option<PathBuf>,
    /// Arm profile TOML naming the arm joints, gripper joints, end-effector link and tool frame.
    #[arg(long, requires = "arm")]
    arm_profile: Option<PathBuf>,
    /// Env config TOML (rates, solver, contacts, action bounds, workspace, motor gains, outcome
    /// thresholds, reward weights); absent fields take their defaults. Every field, with its
    /// unit and default, is in examples/env.toml.
    #[arg(long)]
    env_config: Option<PathBuf>,
    /// Scenario distribution TOML (default: the training distribution); every field, with its
    /// unit and default, is in examples/distribution.toml.
    #[arg(long)]
    distribution: Option<PathBuf>,
}

impl WorldArgs {
    fn load(&self) -> Result<(Arc<ArmModel>, Arc<EnvConfig>, ScenarioDistribution)> {
        let arm = match (&self.arm, &self.arm_profile) {
            (Some(u), Some(p)) => ArmModel::from_files(u, p)?,
            _ => ArmModel::default_arm()?,
        };
        let cfg = match &self.env_config {
            Some(p) => EnvConfig::from_path(p)?,
            None => EnvConfig::default(),
        };
        let dist = match &self.distribution {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
                let d: ScenarioDistribution =
                    toml::from_str(&text).with_context(|| format!("{}: invalid distribution", p.display()))?;
                d.validate(&p.display().to_string())?;
                d
            }
            None => ScenarioDistribution::default(),
        };
        Ok((Arc::new(arm), Arc::new(cfg), dist))
    }
}

#[derive(Args)]
struct ScriptedArgs {
    /// Number of episodes (default: 100, or 1 with --scenario).
    #[arg(long)]
    episodes: Option<u64>,
    /// First scenario seed; episode i uses seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Also list every failed episode (seed, mode, evidence).
    #[arg(long)]
    show_failures: bool,
    /// Run this one scenario (TOML or JSON) instead of sampling the distribution; the
    /// episode's outcome and evidence are always listed.
    #[arg(long, conflicts_with_all = ["seed", "distribution"])]
    scenario: Option<PathBuf>,
    #[command(flatten)]
    world: WorldArgs,
}

#[derive(Args)]
struct BenchSimArgs {
    /// Envs stepped together on all cores.
    #[arg(long, default_value_t = 8)]
    envs: usize,
    /// Control steps per env.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    world: WorldArgs,
}

#[derive(Serialize)]
struct ScriptedReport {
    episodes: u64,
    successes: u64,
    success_rate: f64,
    outcomes: BTreeMap<&'static str, u64>,
    episodes_per_s: f64,
    control_steps_per_s: f64,
    wall_s: f64,
    threads: usize,
    /// Failed episodes (with `--show-failures`), or every episode of a `--scenario` run.
    episodes_listed: Vec<serde_json::Value>,
}

fn progress(n: u64, json: bool) -> ProgressBar {
    let pb = ProgressBar::new(n);
    if json && !atty_stderr() {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

fn atty_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

fn scripted(a: ScriptedArgs) -> Result<()> {
    let episodes = a.episodes.unwrap_or(if a.scenario.is_some() { 1 } else { 100 });
    if episodes == 0 {
        bail!("--episodes must be at least 1");
    }
    let (arm, cfg, dist) = a.world.load()?;
    let (scenarios, show_failures): (Vec<_>, bool) = match &a.scenario {
        Some(path) => (vec![Scenario::from_path(path)?; episodes as usize], true),
        None => ((0..episodes).map(|i| dist.sample(a.seed + i)).collect(), a.show_failures),
    };
    let threads = if a.threads == 0 { rayon::current_num_threads() } else { a.threads };
    let pb = progress(episodes, a.json);
    let start = Instant::now();
    let results = run_scripted(arm, cfg, &scenarios, threads, &|| pb.inc(1))?;
    pb.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();
    let mut outcomes: BTreeMap<&'static str, u64> = OutcomeKind::ALL.iter().map(|k| (k.name(), 0)).collect();
    let mut steps = 0u64;
    let mut failures = Vec::new();
    for (r, s) in results.iter().zip(&scenarios) {
        *outcomes.entry(r.outcome.kind.name()).or_default() += 1;
        steps += r.steps as u64;
        if (r.outcome.kind.is_failure() && show_failures) || a.scenario.is_some() {
            failures.push(serde_json::json!({
                "seed": r.seed, "mode": r.outcome.kind.name(), "evidence": r.outcome.evidence, "scenario": s,
            }));
        }
    }
    let successes = outcomes["success"];
    let report = ScriptedReport {
        episodes,
        successes,
        success_rate: successes as f64 / episodes as f64,
        outcomes,
        episodes_per_s: episodes as f64 / wall,
        control_steps_per_s: steps as f64 / wall,
        wall_s: wall,
        threads,
        episodes_listed: failures,
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "scripted grasp: {}/{} succeeded ({:.1} %) in {:.1} s on {} threads ({:.1} episodes/s, {:.0} control steps/s)",
            report.successes,
            report.episodes,
            100.0 * report.success_rate,
            wall,
            threads,
            report.episodes_per_s,
            report.control_steps_per_s
        );
        for (k, v) in &report.outcomes {
            if *v > 0 {
                println!("  {k:<20} {v}");
            }
        }
        for f in &report.episodes_listed {
            println!("  {} (seed {}): {}", f["mode"].as_str().unwrap_or("?"), f["seed"], f["evidence"]["note"].as_str().unwrap_or(""));
        }
    }
    Ok(())
}

fn bench_sim(a: BenchSimArgs) -> Result<()> {
    let (arm, cfg, _) = a.world.load()?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let single = regrasp_sim::bench::measure(Arc::clone(&arm), Arc::clone(&cfg), 1, 1, a.steps)?;
    let multi = regrasp_sim::bench::measure(arm, Arc::clone(&cfg), a.envs, cores, a.steps)?;
    let report = serde_json::json!({
        "physics_hz": cfg.physics_hz,
        "control_hz": cfg.control_hz,
        "single_thread": single,
        "all_cores": multi,
        "cores": cores,
    });
    if a.json {
        println!("{report}");
    } else {
        println!("physics {} Hz, control {} Hz", cfg.physics_hz, cfg.control_hz);
        for t in [&single, &multi] {
            println!(
                "  {} thread(s), {} env(s): {:.0} control steps/s ({:.0} per thread), {:.0} physics steps/s",
                t.threads, t.envs, t.control_steps_per_s, t.control_steps_per_s_per_thread, t.physics_steps_per_s
            );
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Scripted(a) => scripted(a),
        Command::Bench { what: BenchCommand::Sim(a) } => bench_sim(a),
    }
}
