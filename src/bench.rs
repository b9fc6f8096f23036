//! `regrasp bench ...`: the benchmarks. Each measures in a crate and prints figures here (one
//! JSON object with `--json`); none asserts anything.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use regrasp_hardware::bench::HwBenchConfig;
use regrasp_policy::config::TrainConfig;
use regrasp_policy::eval::LoadedPolicy;
use regrasp_sim::ObsLayout;

use crate::args::{ArmArgs, JsonArg, WorldArgs};

#[derive(Args)]
pub struct BenchSimArgs {
    /// Envs stepped together on all cores.
    #[arg(long, default_value_t = 8)]
    envs: usize,
    /// Control steps per env.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Only the one-thread figure and its breakdown (skip the all-cores run).
    #[arg(long)]
    single_thread: bool,
    #[command(flatten)]
    output: JsonArg,
    #[command(flatten)]
    world: WorldArgs,
}

#[derive(Args)]
pub struct BenchPolicyArgs {
    /// Checkpoint directory (default: a freshly initialised policy of the default size).
    #[arg(long)]
    policy: Option<PathBuf>,
    #[command(flatten)]
    arm: ArmArgs,
    /// Actions to time.
    #[arg(long, default_value_t = 20000)]
    actions: usize,
    #[command(flatten)]
    output: JsonArg,
}

#[derive(Args)]
pub struct BenchLoggingArgs {
    /// PPO iterations of a short real training run (default config, from scratch) to time.
    #[arg(long, default_value_t = 4)]
    iterations: u64,
    /// Scripted episodes to replay with and without full recording.
    #[arg(long, default_value_t = 8)]
    episodes: u64,
    #[command(flatten)]
    output: JsonArg,
}

#[derive(Args)]
pub struct BenchHwArgs {
    /// Seconds of the control-loop run.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// E-stop trials.
    #[arg(long, default_value_t = 10)]
    estops: usize,
    /// `feetech`: through the virtual SO-101's Feetech bus and the host's core (adds the bus's
    /// own cycle rate, the core's jitter at 100 Hz and its e-stop latency).
    #[arg(long)]
    bus: Option<String>,
    #[command(flatten)]
    arm: ArmArgs,
    #[command(flatten)]
    output: JsonArg,
}

pub fn bench_sim(a: BenchSimArgs) -> Result<()> {
    let (arm, cfg, _) = a.world.load()?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let single = regrasp_sim::bench::measure(Arc::clone(&arm), Arc::clone(&cfg), 1, 1, a.steps)?;
    let multi = if a.single_thread {
        None
    } else {
        Some(regrasp_sim::bench::measure(arm, Arc::clone(&cfg), a.envs, cores, a.steps)?)
    };
    if a.output.json {
        let report = serde_json::json!({
            "physics_hz": cfg.physics_hz,
            "control_hz": cfg.control_hz,
            "single_thread": single,
            "all_cores": multi,
            "cores": cores,
        });
        out!("{report}");
        return Ok(());
    }
    out!("physics {} Hz, control {} Hz", cfg.physics_hz, cfg.control_hz);
    for t in std::iter::once(&single).chain(&multi) {
        out!(
            "  {} thread(s), {} env(s): {:.0} control steps/s ({:.0} per thread), {:.0} physics steps/s",
            t.threads,
            t.envs,
            t.control_steps_per_s,
            t.control_steps_per_s_per_thread,
            t.physics_steps_per_s
        );
        if let Some(b) = &t.breakdown {
            out!(
                "    physics alone {:.0} steps/s ({:.1} contact points per step); time: physics {:.0} %, resets {:.0} %, controller {:.0} %, the rest of \
                 the env step (IK, classifier, reward, observation) {:.0} %",
                b.physics_only_steps_per_s,
                b.contacts_per_step,
                100.0 * b.physics,
                100.0 * b.reset,
                100.0 * b.controller,
                100.0 * b.env_rest
            );
        }
    }
    Ok(())
}

pub fn bench_policy(a: BenchPolicyArgs) -> Result<()> {
    let arm = a.arm.load()?;
    let obs_dim = ObsLayout::new(arm.dof()).len();
    let policy = match &a.policy {
        Some(p) => LoadedPolicy::load(p, &arm, obs_dim)?,
        None => LoadedPolicy::untrained(obs_dim, TrainConfig::default().model.hidden, 0),
    };
    let n = a.actions.max(1);
    let (us, checksum) = policy.time_actions(obs_dim, n, &arm.task.env.action)?;
    if a.output.json {
        out!("{}", serde_json::json!({"policy": policy.hash, "actions": n, "us_per_action": us, "checksum": checksum}));
    } else {
        out!("policy inference: {us:.2} µs per action on one core ({n} actions, policy {})", policy.hash);
    }
    Ok(())
}

pub fn bench_logging(a: BenchLoggingArgs) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("regrasp-bench-logging-{}", std::process::id()));
    let b = regrasp_logs::bench::measure(&dir, a.iterations, a.episodes)?;
    if a.output.json {
        out!("{}", serde_json::to_string(&b)?);
        return Ok(());
    }
    out!(
        "scalars: {:.0} µs of logging per PPO iteration of {:.0} ms ({:.3} % overhead, {} iterations)",
        b.scalar_logging_us_per_iteration,
        b.ppo_iteration_ms,
        b.scalar_logging_overhead_percent,
        b.ppo_iterations
    );
    out!(
        "episodes: replay {:.0} µs per control step, {:.0} µs with every step recorded ({:.0} ms per episode, {} steps, \
         1 thread)",
        b.replay_us_per_step,
        b.recorded_replay_us_per_step,
        b.recorded_replay_ms_per_episode,
        b.episode_steps
    );
    Ok(())
}

pub fn bench_hw(a: BenchHwArgs) -> Result<()> {
    let arm = a.arm.load()?;
    let env = Arc::new(arm.task.env.clone());
    let b = regrasp_hardware::bench::bench(
        &arm,
        &env,
        &HwBenchConfig {
            seconds: a.seconds,
            estops: a.estops,
            feetech: match a.bus.as_deref() {
                None => false,
                Some("feetech") => true,
                Some(other) => anyhow::bail!("--bus {other}: the benchmark knows `feetech` (the virtual SO-101)"),
            },
            ..Default::default()
        },
    )?;
    if a.output.json {
        out!("{}", serde_json::to_string(&b)?);
        return Ok(());
    }
    let (l, s, j, e) = (&b.tick_lateness_us, &b.envelope_and_send_us, &b.firmware_tick_jitter_us, &b.estop_to_frame_ms);
    out!(
        "control loop at {} Hz for {:.1} s ({} ticks): tick lateness p50 {} µs, p99 {} µs, max {} µs",
        b.rate_hz,
        b.loop_seconds,
        b.ticks,
        l.p50,
        l.p99,
        l.max
    );
    out!(
        "envelope check: {:.2} µs per command ({} commands); check + serial send in the loop: p99 {:.1} µs",
        b.envelope_check_us,
        b.envelope_checks,
        s.p99
    );
    out!("firmware tick jitter p99 {} µs (max {} µs); largest servo jump {:.4}", j.p99, j.max, b.largest_servo_jump);
    out!(
        "e-stop to stop frame written: max {:.2} ms, median {:.2} ms over {} trials (control period {:.0} ms); torque \
         off within {} firmware tick(s) of the frame",
        e.max,
        e.median,
        e.trials,
        b.control_period_ms,
        b.estop_frame_to_torque_off_ticks_max.map_or("?".to_string(), |t| t.to_string())
    );
    if let Some(f) = &b.feetech {
        out!(
            "feetech bus: {:.0} cycles/s (sync read + sync write of {} bytes; cycle p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs); \
             host core at {:.0} Hz: tick jitter p99 {} µs (max {} µs), torque off {} tick(s) after the e-stop frame",
            f.cycles_per_s,
            f.bytes_per_cycle,
            f.cycle_us.p50,
            f.cycle_us.p99,
            f.cycle_us.max,
            f.core_rate_hz,
            f.core_tick_jitter_us.p99,
            f.core_tick_jitter_us.max,
            f.estop_frame_to_torque_off_ticks.map_or("?".to_string(), |t| t.to_string())
        );
    }
    Ok(())
}
