//! The `regrasp` command line: thin verbs over the workspace crates.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use regrasp_policy::config::TrainConfig;
use regrasp_sim::outcome::OutcomeKind;
use regrasp_sim::suite::EvalSuite;
use regrasp_sim::vec_env::run_controller;
use regrasp_sim::{ArmModel, EnvConfig, Scenario, ScenarioDistribution};
use serde::Serialize;

mod hw;

/// Prints a line on stdout. A closed stdout (output piped into `head`, say) ends the program
/// quietly instead of panicking; other write errors are returned.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = writeln!(stdout, $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(e.into());
        }
    }};
}

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
    /// Train a grasping policy (optionally warm-started by behaviour cloning), with periodic
    /// checkpoints under OUT/checkpoints/ and a log in OUT/train_log.jsonl.
    Train(TrainArgs),
    /// Evaluate a checkpoint on a frozen suite (`train`, `heldout`, `ood` or a suite file).
    Eval(EvalArgs),
    /// The main job: the self-improvement loop. A warm-started champion is evaluated on a probe
    /// set; its failures drive a curriculum; each challenger trains on it for a fixed budget and
    /// replaces the champion only if it is significantly better on the frozen held-out suite and
    /// no worse on OOD, canaries and safety. Leaves OUT/ledger.sqlite, checkpoints, episodes,
    /// report.txt and report.png.
    Improve(ImproveArgs),
    /// Print the report of an `improve` run and write its plot.
    Report(ReportArgs),
    /// Whether a policy's failures are local in scenario space (something a failure-targeted
    /// curriculum can aim at): its failure rate on neighbours of its failed and of its
    /// successful training scenarios (same scenario with a new seed; the `mutate` edit).
    Locality(LocalityArgs),
    /// Re-simulate stored episodes exactly (the final state hash must match) and record them
    /// to rerun: one by id, or the failures of a run.
    Replay(ReplayArgs),
    /// The hardware bridge: the emulator, and certified episodes on an arm.
    Hw {
        #[command(subcommand)]
        what: hw::HwCommand,
    },
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
    /// Microseconds per action of policy inference on one core.
    Policy(BenchPolicyArgs),
    /// What rerun recording costs: scalars per PPO iteration against the iteration's own time,
    /// and full episode recording per control step against plain replay.
    Logging(BenchLoggingArgs),
    /// The hardware control loop over the emulator: 50 Hz tick lateness, envelope time per
    /// check, e-stop trigger to stop frame, firmware tick jitter.
    Hw(hw::BenchHwArgs),
}

#[derive(Args)]
struct BenchLoggingArgs {
    /// PPO iterations of a short real training run (default config, from scratch) to time.
    #[arg(long, default_value_t = 4)]
    iterations: u64,
    /// Scripted episodes to replay with and without full recording.
    #[arg(long, default_value_t = 8)]
    episodes: u64,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct TrainArgs {
    /// Training config TOML (every field has a default; see examples/train.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory of the run.
    #[arg(long)]
    out: PathBuf,
    /// Env control-step budget (overrides the config's total_env_steps).
    #[arg(long)]
    steps: Option<u64>,
    /// Warm start: `bc` clones the scripted grasp before PPO.
    #[arg(long, value_parser = ["bc"])]
    warm_start: Option<String>,
    /// Fine-tune this checkpoint directory (e.g. a champion) with PPO: its weights, normaliser
    /// and action noise, a fresh optimizer.
    #[arg(long, conflicts_with_all = ["warm_start", "resume"])]
    init: Option<PathBuf>,
    /// Continue the run in OUT from its latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Stop after this many PPO iterations in this invocation.
    #[arg(long)]
    max_iterations: Option<u64>,
    /// Arm URDF (default: the shipped arm). Needs --arm-profile.
    #[arg(long, requires = "arm_profile")]
    arm: Option<PathBuf>,
    /// Arm profile TOML.
    #[arg(long, requires = "arm")]
    arm_profile: Option<PathBuf>,
    #[command(flatten)]
    record: RecordArgs,
}

#[derive(Args)]
struct ImproveArgs {
    /// Loop config TOML (every field has a default; see examples/improve.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run directory (default: runs/improve-<curriculum>-s<seed>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Curriculum: `targeted` (failure-targeted, the default) or `uniform` (the ablation).
    #[arg(long, value_parser = ["targeted", "uniform"])]
    curriculum: Option<String>,
    /// Run seed (overrides the config's).
    #[arg(long)]
    seed: Option<u64>,
    /// Generations at most (overrides the config's max_generations; with --resume, raises or
    /// lowers the stored run's budget).
    #[arg(long)]
    generations: Option<u32>,
    /// Continue the run in OUT (its stored config is used; only --generations may change it).
    #[arg(long)]
    resume: bool,
    /// Stop after deciding this many generations in this invocation (for crash drills).
    #[arg(long, hide = true)]
    stop_after: Option<u32>,
    /// Print one JSON object (summary and report) on stdout.
    #[arg(long)]
    json: bool,
    /// Arm URDF (default: the shipped arm). Needs --arm-profile.
    #[arg(long, requires = "arm_profile")]
    arm: Option<PathBuf>,
    /// Arm profile TOML.
    #[arg(long, requires = "arm")]
    arm_profile: Option<PathBuf>,
    #[command(flatten)]
    record: RecordArgs,
}

#[derive(Args)]
struct ReportArgs {
    /// The run directory of `regrasp improve`; with several, a comparison table of their final
    /// champions (per run, mean per curriculum, targeted minus uniform per seed).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The uniform ablation to show beside it (default: a sibling run with curriculum
    /// `uniform`, the same seed and the same budget, if there is one).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Where to write the plot (default: RUN/report.png).
    #[arg(long)]
    png: Option<PathBuf>,
    /// Run the final test first where it has not run: each finished run's warm start and final
    /// champion on the final-test suites (`test-heldout`, `test-ood`: 1000 scenarios each that
    /// the gate, the curriculum and every choice never see), recorded in its ledger. About a
    /// minute per policy and suite on 2 cores.
    #[arg(long)]
    test: bool,
    /// Arm URDF the runs were made for (default: the shipped arm). Needs --arm-profile.
    #[arg(long, requires = "arm_profile")]
    arm: Option<PathBuf>,
    /// Arm profile TOML.
    #[arg(long, requires = "arm")]
    arm_profile: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// Checkpoint directory.
    #[arg(long)]
    policy: PathBuf,
    /// Suite: `train`, `heldout`, `ood`, or a suite TOML file.
    #[arg(long)]
    suite: String,
    /// Where to store the episodes (JSON lines) for replay
    /// (default: runs/eval/<suite>-<policy hash>/episodes.jsonl).
    #[arg(long)]
    episodes_out: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    world: WorldArgs,
    #[command(flatten)]
    record: RecordArgs,
}

#[derive(Args)]
struct LocalityArgs {
    /// Checkpoint directory.
    #[arg(long)]
    policy: PathBuf,
    /// Training scenarios to evaluate.
    #[arg(long, default_value_t = 200)]
    scenarios: u64,
    /// Neighbours of each kind per scenario.
    #[arg(long, default_value_t = 4)]
    neighbours: usize,
    /// Seed of the scenarios, the new seeds and the edits.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    world: WorldArgs,
}

#[derive(Args)]
struct BenchPolicyArgs {
    /// Checkpoint directory (default: a freshly initialised policy of the default size).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Actions to time.
    #[arg(long, default_value_t = 20000)]
    actions: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
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

/// Where and what to record in rerun.
#[derive(Args, Clone)]
struct RecordArgs {
    /// Stream to a rerun viewer started now (needs the `rerun` 0.36 viewer on PATH) instead of
    /// writing the .rrd file.
    #[arg(long)]
    spawn: bool,
    /// Stream to a running rerun viewer at this address (e.g. rerun+http://127.0.0.1:9876/proxy)
    /// instead of writing the .rrd file.
    #[arg(long, conflicts_with = "spawn")]
    connect: Option<String>,
    /// Record nothing.
    #[arg(long, conflicts_with_all = ["spawn", "connect"])]
    no_record: bool,
    /// Record every Nth evaluated episode in full (0 = none).
    #[arg(long, default_value_t = 50)]
    record_every: usize,
    /// Record at most this many episodes in full per evaluation, failures first (0 = no limit).
    #[arg(long, default_value_t = 10)]
    record_limit: usize,
    /// Do not record every failed episode in full.
    #[arg(long)]
    no_record_failures: bool,
}

impl RecordArgs {
    /// The recorder, writing to `file` unless told otherwise.
    fn recorder(&self, name: &str, file: &std::path::Path) -> Result<regrasp_logs::Recorder> {
        use regrasp_logs::{Recorder, Sink};
        let sink =
            if self.no_record { Sink::Off } else { Sink::from_flags(self.spawn, self.connect.as_deref(), Some(file)) };
        Ok(Recorder::new(name, sink)?)
    }

    fn sampling(&self) -> regrasp_logs::Sampling {
        regrasp_logs::Sampling {
            every_nth: self.record_every,
            failures: !self.no_record_failures,
            limit: self.record_limit,
        }
    }
}

#[derive(Args)]
struct ReplayArgs {
    /// An `improve` run directory (episodes indexed by its ledger), or an episode file
    /// (JSON lines) or a directory holding `episodes.jsonl`, as `eval` writes them.
    run: PathBuf,
    /// Episode id: `<policy>/<suite>/<index>` in a run, `<index>` (0-based) in an episode file.
    /// May be given several times.
    #[arg(long, required_unless_present = "failures")]
    episode: Vec<String>,
    /// Replay failed episodes.
    #[arg(long, conflicts_with = "episode")]
    failures: bool,
    /// Only failures of this mode (e.g. slip_during_lift).
    #[arg(long, requires = "failures")]
    mode: Option<String>,
    /// Only episodes evaluated in this generation (runs only).
    #[arg(long, requires = "failures")]
    generation: Option<u32>,
    /// Only episodes of this suite (runs only: probe, heldout, ood, canary, boundary/<g>).
    #[arg(long, requires = "failures")]
    suite: Option<String>,
    /// Replay at most this many failures.
    #[arg(long, default_value_t = 10, requires = "failures")]
    limit: usize,
    /// The policy checkpoint, for action distributions and value estimates in the recording
    /// (a run's own checkpoints are found by themselves).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The .rrd file to write (default: RUN/rerun/replay.rrd, or beside the episode file).
    #[arg(long, conflicts_with_all = ["spawn", "connect"])]
    out: Option<PathBuf>,
    /// Stream to a rerun viewer started now (needs `rerun` 0.36 on PATH).
    #[arg(long)]
    spawn: bool,
    /// Stream to a running rerun viewer at this address.
    #[arg(long, conflicts_with = "spawn")]
    connect: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    world: WorldArgs,
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
    /// Which controller: `scripted` (the reference-trajectory grasp) or `expert` (the
    /// state-driven grasp expert used to label learner states).
    #[arg(long, default_value = "scripted", value_parser = ["scripted", "expert"])]
    controller: String,
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
    let results = run_controller(arm, cfg, &scenarios, threads, &|| pb.inc(1), a.controller == "expert")?;
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
        out!("{}", serde_json::to_string(&report)?);
    } else {
        out!(
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
                out!("  {k:<20} {v}");
            }
        }
        for f in &report.episodes_listed {
            out!(
                "  {} (seed {}): {}",
                f["mode"].as_str().unwrap_or("?"),
                f["seed"],
                f["evidence"]["note"].as_str().unwrap_or("")
            );
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
        out!("{report}");
    } else {
        out!("physics {} Hz, control {} Hz", cfg.physics_hz, cfg.control_hz);
        for t in [&single, &multi] {
            out!(
                "  {} thread(s), {} env(s): {:.0} control steps/s ({:.0} per thread), {:.0} physics steps/s",
                t.threads,
                t.envs,
                t.control_steps_per_s,
                t.control_steps_per_s_per_thread,
                t.physics_steps_per_s
            );
        }
    }
    Ok(())
}

fn load_arm(urdf: &Option<PathBuf>, profile: &Option<PathBuf>) -> Result<Arc<ArmModel>> {
    Ok(Arc::new(match (urdf, profile) {
        (Some(u), Some(p)) => ArmModel::from_files(u, p)?,
        _ => ArmModel::default_arm()?,
    }))
}

fn train(a: TrainArgs) -> Result<()> {
    use regrasp_policy::run::{Event, RunOptions, train};
    let mut cfg = match &a.config {
        Some(p) => TrainConfig::from_path(p)?,
        None => TrainConfig::default(),
    };
    if let Some(s) = a.steps {
        cfg.total_env_steps = s;
    }
    let arm = load_arm(&a.arm, &a.arm_profile)?;
    let rec = a.record.recorder("train", &fresh_rrd(&a.out.join("rerun"), "train"))?;
    let pb = ProgressBar::new(cfg.total_env_steps);
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} env steps {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let opts = RunOptions {
        warm_start_bc: a.warm_start.is_some(),
        init: a.init.clone(),
        resume: a.resume,
        max_iterations: a.max_iterations,
        ..RunOptions::default()
    };
    let final_ckpt = train(cfg, arm, &a.out, opts, &mut |e| match e {
        Event::BehaviourCloning { kept, episodes, env_steps, stats } => {
            pb.set_position(*env_steps);
            pb.println(format!(
                "behaviour cloning: {kept}/{episodes} demonstrations kept, {} samples, action mse {:.4}",
                stats.samples, stats.final_action_mse
            ));
        }
        Event::Dagger { round, beta, episodes, successes, samples, stats } => {
            pb.println(format!(
                "DAgger round {round}: β {beta:.2}, {successes}/{episodes} episodes succeeded, {samples} samples, action mse {:.4}",
                stats.final_action_mse
            ));
        }
        Event::Iteration(s) => {
            if let Some(st) = rec.stream() {
                regrasp_logs::scalars::log_training(st, s.env_steps, s);
            }
            pb.set_position(s.env_steps);
            let rate = if s.episodes > 0 { 100.0 * s.successes as f64 / s.episodes as f64 } else { 0.0 };
            pb.set_message(format!(
                "it {} | success {rate:.0}% | return {:.1} | {:.0} env steps/s | {:.0} learner samples/s",
                s.iteration, s.mean_return, s.env_steps_per_s, s.learner_samples_per_s
            ));
        }
        Event::Checkpoint { hash, env_steps, .. } => pb.println(format!("checkpoint {hash} at {env_steps} env steps")),
        Event::Episodes { .. } => {}
    })?;
    pb.finish_and_clear();
    out!(
        "trained: {} env steps, {} PPO iterations; final checkpoint {}",
        final_ckpt.meta.env_steps,
        final_ckpt.meta.iteration,
        a.out.join("checkpoints").join(&final_ckpt.meta.content_hash).display()
    );
    Ok(())
}

fn locality(a: LocalityArgs) -> Result<()> {
    let (arm, cfg, dist) = a.world.load()?;
    let obs_dim = regrasp_sim::ObsLayout::new(arm.dof()).len();
    let policy = regrasp_policy::eval::LoadedPolicy::load(&a.policy, &arm, obs_dim)?;
    let edit = regrasp_curriculum::config::GeneratorsConfig::default();
    let l =
        regrasp_curriculum::locality::measure(&policy, &arm, &cfg, &dist, &edit, a.scenarios, a.neighbours, a.seed)?;
    if a.json {
        out!("{}", serde_json::to_string(&l)?);
    } else {
        out!("{}", l.describe().trim_end());
    }
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    use regrasp_policy::eval::{LoadedPolicy, evaluate, write_episodes};
    let (arm, cfg, _) = a.world.load()?;
    let suite = EvalSuite::load(&a.suite)?;
    let obs_dim = regrasp_sim::ObsLayout::new(arm.dof()).len();
    let policy = LoadedPolicy::load(&a.policy, &arm, obs_dim)?;
    let scenarios = suite.scenarios();
    let pb = progress(scenarios.len() as u64, a.json);
    let (report, records) = evaluate(&policy, &arm, &cfg, &suite.name, &scenarios, &|| pb.inc(1))?;
    pb.finish_and_clear();
    let out = a.episodes_out.unwrap_or_else(|| {
        PathBuf::from("runs/eval").join(format!("{}-{}", suite.name, policy.hash)).join("episodes.jsonl")
    });
    write_episodes(&out, &records)?;
    let rrd = out.with_file_name("eval.rrd");
    let rec = a.record.recorder(&format!("eval {} {}", suite.name, policy.hash), &rrd)?;
    let recorded = record_episodes(
        &rec,
        &arm,
        &cfg,
        &records,
        a.record.sampling(),
        |i| i.to_string(),
        std::slice::from_ref(&policy),
    )?;
    rec.flush()?;
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["episodes_file"] = serde_json::json!(out.display().to_string());
        v["recorded_episodes"] = serde_json::json!(recorded);
        v["rerun"] = serde_json::json!(sink_name(&rec));
        out!("{v}");
    } else {
        out!(
            "{}: {}/{} succeeded ({:.1} %, 95 % CI {:.1}–{:.1} %), policy {}",
            report.suite,
            report.successes,
            report.episodes,
            100.0 * report.success_rate,
            100.0 * report.ci95[0],
            100.0 * report.ci95[1],
            report.policy_hash
        );
        if let Some(t) = report.mean_time_to_lift_s {
            out!("  mean time to lift: {t:.2} s");
        }
        for (k, v) in &report.outcomes {
            if *v > 0 {
                out!("  {k:<20} {v}");
            }
        }
        out!("  episodes stored in {}", out.display());
        out!("  {recorded} episodes recorded in full: {}", sink_name(&rec));
    }
    Ok(())
}

fn bench_policy(a: BenchPolicyArgs) -> Result<()> {
    use regrasp_policy::eval::LoadedPolicy;
    use regrasp_policy::inference::Scratch;
    let arm = ArmModel::default_arm()?;
    let obs_dim = regrasp_sim::ObsLayout::new(arm.dof()).len();
    let policy = match &a.policy {
        Some(p) => LoadedPolicy::load(p, &arm, obs_dim)?,
        None => {
            let cfg = TrainConfig::default();
            let model = regrasp_policy::model::ActorCriticConfig::new(obs_dim, regrasp_sim::ACTION_DIM)
                .with_hidden(cfg.model.hidden)
                .init(0, &burn_device());
            LoadedPolicy {
                net: model.to_inference(),
                norm: regrasp_policy::normalizer::RunningNorm::new(obs_dim),
                hash: "untrained".into(),
            }
        }
    };
    let limits = EnvConfig::default().action;
    let mut s = Scratch::default();
    let mut obs = vec![0.1f32; obs_dim];
    let n = a.actions.max(1);
    let start = Instant::now();
    let mut checksum = 0.0f32;
    for i in 0..n {
        obs[i % obs_dim] += 1e-3;
        let act = policy.act(&obs, &limits, &mut s)?;
        checksum += act.gripper;
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    if a.json {
        out!("{}", serde_json::json!({"policy": policy.hash, "actions": n, "us_per_action": us, "checksum": checksum}));
    } else {
        out!("policy inference: {us:.2} µs per action on one core ({n} actions, policy {})", policy.hash);
    }
    Ok(())
}

fn burn_device() -> regrasp_policy::burn::prelude::Device {
    regrasp_policy::burn::prelude::Device::flex()
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Scripted(a) => scripted(a),
        Command::Bench { what: BenchCommand::Sim(a) } => bench_sim(a),
        Command::Bench { what: BenchCommand::Policy(a) } => bench_policy(a),
        Command::Bench { what: BenchCommand::Logging(a) } => bench_logging(a),
        Command::Bench { what: BenchCommand::Hw(a) } => hw::bench(a),
        Command::Hw { what: hw::HwCommand::Emulate(a) } => hw::emulate(a),
        Command::Hw { what: hw::HwCommand::Run(a) } => hw::run(a),
        Command::Hw { what: hw::HwCommand::Validate(a) } => hw::validate(a),
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a),
        Command::Improve(a) => improve(a),
        Command::Report(a) => report(a),
        Command::Locality(a) => locality(a),
        Command::Replay(a) => replay(a),
    }
}

fn improve(a: ImproveArgs) -> Result<()> {
    use regrasp_curriculum::{CurriculumMode, ImproveConfig, ImproveEvent, ImproveOptions, improve};
    if a.resume {
        // A resumed run keeps its stored config; an override would be silently ignored.
        for (given, flag) in
            [(a.config.is_some(), "--config"), (a.seed.is_some(), "--seed"), (a.curriculum.is_some(), "--curriculum")]
        {
            if given {
                bail!(
                    "{flag} cannot be given with --resume: a resumed run keeps the config stored in its ledger (only --generations, its budget, can change)"
                );
            }
        }
    }
    let mut cfg = match &a.config {
        Some(p) => ImproveConfig::from_path(p)?,
        None => ImproveConfig::default(),
    };
    if let Some(c) = &a.curriculum {
        cfg.curriculum = if c == "uniform" { CurriculumMode::Uniform } else { CurriculumMode::Targeted };
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    if let Some(g) = a.generations {
        cfg.max_generations = g;
    }
    let out =
        a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/improve-{}-s{}", cfg.curriculum.name(), cfg.seed)));
    let arm = load_arm(&a.arm, &a.arm_profile)?;
    let start = Instant::now();
    let opts = ImproveOptions {
        resume: a.resume,
        max_generations_now: a.stop_after,
        max_generations: a.generations.filter(|_| a.resume),
    };
    let mut last_decile: Option<(u32, u64)> = None;
    // The improve loop knows nothing of rerun: its events are recorded here.
    let rec = a.record.recorder(&format!("improve {}", out.display()), &fresh_rrd(&out.join("rerun"), "improve"))?;
    let sampling = a.record.sampling();
    let env_cfg = Arc::new(cfg.train.env.clone());
    let obs_dim = regrasp_sim::ObsLayout::new(arm.dof()).len();
    let mut record_error: Option<anyhow::Error> = None;
    let arm_for_log = Arc::clone(&arm);
    let summary = improve(cfg, arm, &out, opts, &mut |e| {
        let t = start.elapsed().as_secs();
        if let Some(st) = rec.stream() {
            match e {
                ImproveEvent::Training { generation, env_steps, budget, stats, .. } => {
                    let total = (*generation as u64).saturating_sub(1) * budget + env_steps;
                    regrasp_logs::scalars::log_training(st, total, stats);
                }
                ImproveEvent::Evaluated { policy, episode_file: Some(file), .. } if record_error.is_none() => {
                    let result = (|| -> Result<usize> {
                        let records = regrasp_logs::read_episodes(file)?;
                        let loaded = regrasp_policy::eval::LoadedPolicy::load(&out.join("checkpoints").join(policy), &arm_for_log, obs_dim)?;
                        let stem = file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
                        let suite = stem.strip_prefix(&format!("{policy}-")).unwrap_or(&stem).to_string();
                        record_episodes(&rec, &arm_for_log, &env_cfg, &records, sampling, |i| format!("{policy}/{suite}/{i}"), &[loaded])
                    })();
                    if let Err(err) = result {
                        record_error = Some(err.context(format!("recording the episodes of {}", file.display())));
                    }
                }
                ImproveEvent::Decided { generation, promoted, reasons, composition, success, champion_failures, parameters, .. } => {
                    regrasp_logs::scalars::log_generation(
                        st,
                        &regrasp_logs::scalars::GenerationLog {
                            generation: *generation,
                            success: success.clone(),
                            composition: composition.clone(),
                            parameters: parameters.clone(),
                            failures: champion_failures.clone(),
                            promoted: *promoted,
                            reasons: reasons.clone(),
                        },
                    );
                }
                _ => {}
            }
        }
        let line = match e {
            ImproveEvent::Training { generation, env_steps, budget, episodes, env_steps_per_s, .. } => {
                // One line per tenth of the budget.
                let decile = (*generation, env_steps * 10 / (*budget).max(1));
                if Some(decile) == last_decile {
                    return;
                }
                last_decile = Some(decile);
                format!(
                    "  training: {env_steps}/{budget} env steps, rollout success {}/{}, {env_steps_per_s:.0} env steps/s",
                    episodes.1, episodes.0
                )
            }
            ImproveEvent::Stage { generation, what } => format!("gen {generation}: {what}"),
            ImproveEvent::Evaluated { policy, suite, success_rate, episodes, .. } => {
                format!("  {policy} on {suite}: {:.1}% of {episodes}", 100.0 * success_rate)
            }
            ImproveEvent::Decided { generation, promoted, heldout, p_value, reasons, composition, .. } => {
                let comp: Vec<String> = composition.iter().filter(|(_, v)| *v > 0.0).map(|(k, v)| format!("{k} {:.0}%", 100.0 * v)).collect();
                format!(
                    "gen {generation}: {} (held-out {:.1}% -> {:.1}%, p = {p_value:.4}; curriculum {}){}",
                    if *promoted { "PROMOTED" } else { "rolled back" },
                    100.0 * heldout.0,
                    100.0 * heldout.1,
                    comp.join(", "),
                    if *promoted { String::new() } else { format!("\n    why: {reasons}") }
                )
            }
            ImproveEvent::Stopped { reason } => format!("stopped: {reason}"),
        };
        eprintln!("[{:02}:{:02}:{:02}] {line}", t / 3600, t / 60 % 60, t % 60);
    })
    .with_context(|| format!("improve run {}", out.display()))?;
    rec.flush()?;
    if let Some(err) = record_error {
        return Err(err);
    }
    let (text, rep) = write_report(&out, None, None)?;
    if a.json {
        out!(
            "{}",
            serde_json::json!({ "summary": summary, "report": rep, "wall_s": start.elapsed().as_secs_f64(), "rerun": sink_name(&rec) })
        );
    } else {
        out!("{text}");
        out!("report: {} and {}", out.join("report.txt").display(), out.join("report.png").display());
        out!("rerun: {}", sink_name(&rec));
    }
    Ok(())
}

/// Builds a run's report (with its ablation), writes report.txt and the plot; returns the text.
fn write_report(
    run: &std::path::Path,
    baseline: Option<&std::path::Path>,
    png: Option<&std::path::Path>,
) -> Result<(String, regrasp_curriculum::report::RunReport)> {
    use regrasp_curriculum::report::{build, find_baseline, plot, render};
    let mut rep = build(run)?;
    let base_dir = match baseline {
        Some(b) => Some(b.to_path_buf()),
        None => find_baseline(&rep),
    };
    if let Some(b) = base_dir {
        rep.baseline = Some(Box::new(build(&b).with_context(|| format!("baseline {}", b.display()))?));
    }
    let text = render(&rep);
    std::fs::write(run.join("report.txt"), &text)
        .with_context(|| format!("writing {}", run.join("report.txt").display()))?;
    let png = png.map(|p| p.to_path_buf()).unwrap_or_else(|| run.join("report.png"));
    plot(&rep, &png)?;
    Ok((text, rep))
}

fn report(a: ReportArgs) -> Result<()> {
    use regrasp_curriculum::report::{build, compare, render_comparison};
    if a.test {
        let arm = load_arm(&a.arm, &a.arm_profile)?;
        let start = Instant::now();
        for r in &a.runs {
            regrasp_curriculum::final_test::run_final_test(r, Arc::clone(&arm), &mut |line| {
                let t = start.elapsed().as_secs();
                eprintln!("[{:02}:{:02}:{:02}] {line}", t / 3600, t / 60 % 60, t % 60);
            })
            .with_context(|| format!("final test of {}", r.display()))?;
        }
    }
    if a.runs.len() > 1 {
        let reports = a
            .runs
            .iter()
            .map(|r| build(r).with_context(|| format!("run {}", r.display())))
            .collect::<Result<Vec<_>>>()?;
        let c = compare(&reports);
        if a.json {
            out!("{}", serde_json::to_string(&c)?);
        } else {
            out!("{}", render_comparison(&c));
        }
        return Ok(());
    }
    let (text, rep) = write_report(&a.runs[0], a.baseline.as_deref(), a.png.as_deref())?;
    if a.json {
        out!("{}", serde_json::to_string(&rep)?);
    } else {
        out!("{text}");
    }
    Ok(())
}

/// `dir/<stem>.rrd`, or `dir/<stem>-<n>.rrd` with the first free n, so that a resumed run never
/// overwrites an earlier recording.
fn fresh_rrd(dir: &std::path::Path, stem: &str) -> PathBuf {
    let first = dir.join(format!("{stem}.rrd"));
    if !first.exists() {
        return first;
    }
    (2..).map(|n| dir.join(format!("{stem}-{n}.rrd"))).find(|p| !p.exists()).unwrap_or(first)
}

/// Where a recorder writes, in words.
fn sink_name(rec: &regrasp_logs::Recorder) -> String {
    match rec.sink() {
        regrasp_logs::Sink::File(p) => p.display().to_string(),
        regrasp_logs::Sink::Spawn => "a spawned rerun viewer".into(),
        regrasp_logs::Sink::Connect(addr) => format!("the rerun viewer at {addr}"),
        regrasp_logs::Sink::Off => "nothing (recording off)".into(),
    }
}

/// Records the `sampling` pick of `records` in full (by exact replay); returns how many.
fn record_episodes(
    rec: &regrasp_logs::Recorder,
    arm: &Arc<ArmModel>,
    env_cfg: &Arc<EnvConfig>,
    records: &[regrasp_policy::eval::EpisodeRecord],
    sampling: regrasp_logs::Sampling,
    id: impl Fn(usize) -> String,
    policies: &[regrasp_policy::eval::LoadedPolicy],
) -> Result<usize> {
    if !rec.is_on() {
        return Ok(0);
    }
    let picked: Vec<regrasp_logs::StoredEpisode> = sampling
        .select(records)
        .into_iter()
        .map(|i| regrasp_logs::StoredEpisode { id: id(i), record: records[i].clone() })
        .collect();
    regrasp_logs::replay_all(arm, env_cfg, &picked, policies, rec)?;
    Ok(picked.len())
}

/// Parses `<policy>/<suite>/<index>` (the suite may itself contain `/`).
fn parse_run_episode_id(id: &str) -> Result<(String, String, usize)> {
    let bad =
        || anyhow::anyhow!("episode id `{id}`: expected <policy>/<suite>/<index>, e.g. 0123abcd4567ef89/heldout/17");
    let (policy, rest) = id.split_once('/').ok_or_else(bad)?;
    let (suite, idx) = rest.rsplit_once('/').ok_or_else(bad)?;
    let idx = idx.parse::<usize>().map_err(|_| bad())?;
    if policy.is_empty() || suite.is_empty() {
        return Err(bad());
    }
    Ok((policy.to_string(), suite.to_string(), idx))
}

fn replay(a: ReplayArgs) -> Result<()> {
    use regrasp_logs::{Recorder, Sink, StoredEpisode, read_episodes, replay_all};
    let (arm, cfg, _) = a.world.load()?;
    let obs_dim = regrasp_sim::ObsLayout::new(arm.dof()).len();
    let mode =
        match &a.mode {
            Some(m) => {
                Some(OutcomeKind::ALL.into_iter().find(|k| k.name() == m).filter(|k| k.is_failure()).ok_or_else(
                    || anyhow::anyhow!("--mode {m}: not a failure mode (one of: {})", failure_mode_names()),
                )?)
            }
            None => None,
        };
    let wanted = |r: &regrasp_policy::eval::EpisodeRecord| {
        r.outcome.kind.is_failure() && mode.is_none_or(|m| r.outcome.kind == m)
    };
    let ledger_path = a.run.join("ledger.sqlite");
    let (episodes, default_out, mut policy_dirs): (Vec<StoredEpisode>, PathBuf, Vec<PathBuf>) = if ledger_path.exists()
    {
        let ledger = regrasp_curriculum::ledger::Ledger::open(&ledger_path)?;
        let rows = ledger.evaluations()?;
        let file_of = |row: &regrasp_curriculum::ledger::EvaluationRow| -> Result<PathBuf> {
            let rel = row.episode_file.as_ref().ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: evaluation {} / {} stored no episode file",
                    ledger_path.display(),
                    row.policy,
                    row.suite
                )
            })?;
            Ok(a.run.join(rel))
        };
        let mut eps = Vec::new();
        if a.failures {
            for row in rows.iter().filter(|r| {
                a.generation.is_none_or(|g| r.generation == g) && a.suite.as_ref().is_none_or(|s| &r.suite == s)
            }) {
                if row.episodes == row.successes {
                    continue;
                }
                for (i, r) in read_episodes(&file_of(row)?)?.into_iter().enumerate().filter(|(_, r)| wanted(r)) {
                    eps.push(StoredEpisode { id: format!("{}/{}/{i}", row.policy, row.suite), record: r });
                }
            }
            eps.truncate(a.limit);
        } else {
            for id in &a.episode {
                let (policy, suite, idx) = parse_run_episode_id(id)?;
                let row = rows.iter().find(|r| r.policy == policy && r.suite == suite).ok_or_else(|| {
                    anyhow::anyhow!(
                        "episode {id}: {} has no evaluation of policy {policy} on suite {suite}",
                        ledger_path.display()
                    )
                })?;
                let file = file_of(row)?;
                let record = read_episodes(&file)?.into_iter().nth(idx).ok_or_else(|| {
                    anyhow::anyhow!("episode {id}: {} holds only {} episodes", file.display(), row.episodes)
                })?;
                eps.push(StoredEpisode { id: id.clone(), record });
            }
        }
        let dirs = eps.iter().map(|e| a.run.join("checkpoints").join(&e.record.policy_hash)).collect();
        (eps, a.run.join("rerun").join("replay.rrd"), dirs)
    } else {
        if a.generation.is_some() || a.suite.is_some() {
            bail!(
                "--generation and --suite need an improve run (a directory with ledger.sqlite); {} is not one",
                a.run.display()
            );
        }
        let file = if a.run.is_dir() { a.run.join("episodes.jsonl") } else { a.run.clone() };
        let records = read_episodes(&file)?;
        let mut eps = Vec::new();
        if a.failures {
            eps.extend(
                records
                    .into_iter()
                    .enumerate()
                    .filter(|(_, r)| wanted(r))
                    .map(|(i, r)| StoredEpisode { id: i.to_string(), record: r }),
            );
            eps.truncate(a.limit);
        } else {
            for id in &a.episode {
                let idx: usize = id
                    .parse()
                    .map_err(|_| anyhow::anyhow!("episode id `{id}`: expected an index into {}", file.display()))?;
                let record = records.get(idx).cloned().ok_or_else(|| {
                    anyhow::anyhow!("episode {id}: {} holds only {} episodes", file.display(), records.len())
                })?;
                eps.push(StoredEpisode { id: id.clone(), record });
            }
        }
        (eps, file.with_file_name("replay.rrd"), Vec::new())
    };
    if episodes.is_empty() {
        bail!("no stored episode matches in {}", a.run.display());
    }
    policy_dirs.extend(a.policy.clone());
    policy_dirs.sort();
    policy_dirs.dedup();
    let policies: Vec<_> = policy_dirs
        .iter()
        .filter(|d| d.join("meta.json").exists())
        .map(|d| regrasp_policy::eval::LoadedPolicy::load(d, &arm, obs_dim))
        .collect::<std::result::Result<_, _>>()?;
    let out = a.out.clone().unwrap_or(default_out);
    let sink = Sink::from_flags(a.spawn, a.connect.as_deref(), Some(&out));
    let rec = Recorder::new(&format!("replay {}", a.run.display()), sink)?;
    let start = Instant::now();
    let replayed = replay_all(&arm, &cfg, &episodes, &policies, &rec)?;
    rec.flush()?;
    let wall = start.elapsed().as_secs_f64();
    if a.json {
        out!("{}", serde_json::json!({ "episodes": replayed, "rerun": sink_name(&rec), "wall_s": wall }));
    } else {
        for r in &replayed {
            out!(
                "{}: {} after {} steps, final state {:016x} (matches the stored hash)",
                r.id,
                r.outcome.kind.name(),
                r.steps,
                r.final_state_hash
            );
        }
        out!("{} episodes replayed exactly in {wall:.2} s; recorded to {}", replayed.len(), sink_name(&rec));
    }
    Ok(())
}

fn failure_mode_names() -> String {
    OutcomeKind::ALL.iter().filter(|k| k.is_failure()).map(|k| k.name()).collect::<Vec<_>>().join(", ")
}

fn bench_logging(a: BenchLoggingArgs) -> Result<()> {
    use regrasp_logs::{Recorder, Sink, StoredEpisode, replay_all};
    let dir = std::env::temp_dir().join(format!("regrasp-bench-logging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let arm = Arc::new(ArmModel::default_arm()?);
    let env_cfg = Arc::new(EnvConfig::default());

    // 1. Scalars while training: every PPO iteration is logged; the time spent logging is
    // measured inside the callback and set against the iteration's wall time.
    let rec = Recorder::new("bench", Sink::File(dir.join("scalars.rrd")))?;
    let mut cfg = TrainConfig::default();
    cfg.total_env_steps = a.iterations.max(1) * (cfg.envs * cfg.rollout_steps) as u64;
    let (mut log_s, mut iterations) = (0.0f64, 0u64);
    let train_start = Instant::now();
    regrasp_policy::run::train(cfg, Arc::clone(&arm), &dir.join("run"), Default::default(), &mut |e| {
        if let regrasp_policy::run::Event::Iteration(s) = e {
            let t = Instant::now();
            if let Some(st) = rec.stream() {
                regrasp_logs::scalars::log_training(st, s.env_steps, s);
            }
            log_s += t.elapsed().as_secs_f64();
            iterations += 1;
        }
    })?;
    let t = Instant::now();
    rec.flush()?;
    log_s += t.elapsed().as_secs_f64();
    let train_s = train_start.elapsed().as_secs_f64();
    let iteration_ms = 1e3 * train_s / iterations.max(1) as f64;
    let scalar_us = 1e6 * log_s / iterations.max(1) as f64;

    // 2. Full episodes: the same scripted episodes replayed plainly and with every step logged.
    let dist = ScenarioDistribution::default();
    let scenarios: Vec<Scenario> = (0..a.episodes.max(1)).map(|i| dist.sample(9000 + i)).collect();
    let results = run_controller(Arc::clone(&arm), Arc::clone(&env_cfg), &scenarios, 1, &|| {}, true)?;
    let episodes: Vec<StoredEpisode> = results
        .into_iter()
        .zip(&scenarios)
        .enumerate()
        .map(|(i, (r, s))| StoredEpisode {
            id: i.to_string(),
            record: regrasp_policy::eval::EpisodeRecord {
                scenario: *s,
                policy_hash: "expert".into(),
                actions: r.actions,
                final_state_hash: r.final_state_hash,
                outcome: r.outcome,
                metrics: Default::default(),
            },
        })
        .collect();
    let steps: usize = episodes.iter().map(|e| e.record.actions.len()).sum();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let off = Recorder::off();
    let t = Instant::now();
    pool.install(|| replay_all(&arm, &env_cfg, &episodes, &[], &off))?;
    let plain_us = 1e6 * t.elapsed().as_secs_f64() / steps as f64;
    let rec = Recorder::new("bench", Sink::File(dir.join("episodes.rrd")))?;
    let t = Instant::now();
    pool.install(|| replay_all(&arm, &env_cfg, &episodes, &[], &rec))?;
    rec.flush()?;
    let recorded_us = 1e6 * t.elapsed().as_secs_f64() / steps as f64;
    let per_episode_ms = 1e-3 * recorded_us * steps as f64 / episodes.len() as f64;
    let _ = std::fs::remove_dir_all(&dir);
    let report = serde_json::json!({
        "ppo_iterations": iterations,
        "ppo_iteration_ms": iteration_ms,
        "scalar_logging_us_per_iteration": scalar_us,
        "scalar_logging_overhead_percent": 100.0 * scalar_us / (1e3 * iteration_ms),
        "episode_steps": steps,
        "replay_us_per_step": plain_us,
        "recorded_replay_us_per_step": recorded_us,
        "recorded_replay_ms_per_episode": per_episode_ms,
    });
    if a.json {
        out!("{report}");
    } else {
        out!(
            "scalars: {scalar_us:.0} µs of logging per PPO iteration of {iteration_ms:.0} ms ({:.3} % overhead, {iterations} iterations)",
            100.0 * scalar_us / (1e3 * iteration_ms)
        );
        out!(
            "episodes: replay {plain_us:.0} µs per control step, {recorded_us:.0} µs with every step recorded ({per_episode_ms:.0} ms per episode, {steps} steps, 1 thread)"
        );
    }
    Ok(())
}
