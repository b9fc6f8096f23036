//! `regrasp hw ...` and `regrasp bench hw`: the hardware-in-the-loop emulator, certified
//! episodes on an arm (or the emulator) through the safety-checked bridge, and the control-loop
//! benchmark. The certificate comes from an `improve` run's ledger: only a checkpoint that the
//! ledger records as promoted for this arm model may drive an arm, and there is no override.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use regrasp_curriculum::ledger::Ledger;
use regrasp_hardware::certificate::{Certificate, admit};
use regrasp_hardware::emulator::{Emulator, EmulatorConfig, FaultConfig};
use regrasp_hardware::link::{Bridge, LinkConfig};
use regrasp_hardware::session::{EpisodeReport, ObjectEstimate, Pilot, PolicyPilot, RunConfig, preflight, run_episode};
use regrasp_hardware::twin::Twin;
use regrasp_hardware::{EnvelopeConfig, Guarded, SafetyEnvelope};
use regrasp_sim::{Action, ArmModel, EnvConfig, Scenario, ScenarioDistribution};
use serde::Serialize;

/// The firmware tick of the emulator (s): 40 Hz, so that the sim twin steps its physics at
/// exactly the training rate (240 Hz, 6 steps a tick).
pub const EMULATOR_TICK_S: f64 = 0.025;

#[derive(Subcommand)]
pub enum HwCommand {
    /// Create a pseudo-terminal (symlinked at --link) running the firmware core on the host,
    /// with the sim twin as the physical arm; inject faults on request. Runs until Ctrl-C or
    /// --seconds, then prints what it saw.
    Emulate(EmulateArgs),
    /// Run one episode on an arm (or the emulator) with a certified policy: certificate check,
    /// pre-flight in simulation, then the 50 Hz loop through the safety envelope. Ctrl-C or
    /// Enter stops the arm at once.
    Run(HwRunArgs),
    /// The validation protocol: for each physical scenario the operator sets up the object (as
    /// shown in rerun and described here), confirms, the arm runs, and the operator gives the
    /// verdict. Verdicts and the host's evidence go into the run's ledger as a real-world
    /// evaluation (suite `real/N`); real failures join the failure archive that the curriculum
    /// targets. Answers are read line by line from stdin.
    Validate(HwValidateArgs),
}

#[derive(Args)]
pub struct HwValidateArgs {
    /// The `improve` run whose ledger certifies the policy and receives the results.
    #[arg(long)]
    run: PathBuf,
    /// Content hash of the checkpoint to validate; default: the run's champion.
    #[arg(long)]
    policy: Option<String>,
    /// Serial port of the arm's controller (or the emulator's --link).
    #[arg(long, required_unless_present = "emulate")]
    link: Option<String>,
    /// Validate against an emulator started here, whose sim twin plays the operator: it places
    /// each scenario's object and its classifier gives the verdict (no prompts).
    #[arg(long, conflicts_with = "link")]
    emulate: bool,
    /// Scenario files (TOML or JSON), in order; repeat the flag for more.
    #[arg(long = "scenario")]
    scenarios: Vec<PathBuf>,
    /// Seeds of training-distribution scenarios to add after the files; repeat for more.
    #[arg(long = "seed")]
    seeds: Vec<u64>,
    #[command(flatten)]
    drive: DriveArgs,
}

/// The scenario the operator sets up (and the emulator's twin places).
#[derive(Args, Clone)]
pub struct ScenarioArg {
    /// Scenario file (TOML or JSON); default: the training distribution's scenario for --seed.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Seed of the scenario drawn from the training distribution when no file is given.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl ScenarioArg {
    fn load(&self) -> Result<Scenario> {
        Ok(match &self.scenario {
            Some(p) => Scenario::from_path(p)?,
            None => ScenarioDistribution::default().sample(self.seed),
        })
    }
}

#[derive(Args)]
pub struct EmulateArgs {
    /// Where to symlink the pseudo-terminal (e.g. /tmp/ttyREGRASP0); an existing symlink is
    /// replaced, any other file is left alone and refused.
    #[arg(long)]
    link: PathBuf,
    #[command(flatten)]
    scenario: ScenarioArg,
    /// Stop after this long (s); default: until Ctrl-C.
    #[arg(long)]
    seconds: Option<f64>,
    /// Fraction of frames dropped, each direction.
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// Fraction of frames with one bit flipped, each direction.
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Latency added to every frame (ms).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The link goes silent this long after start (ms).
    #[arg(long)]
    disconnect_at_ms: Option<u64>,
    /// This joint's servo is stalled.
    #[arg(long)]
    stall_joint: Option<usize>,
    /// Extra load on every servo (fraction of rated) from --overload-at-ms.
    #[arg(long, default_value_t = 0.0)]
    overload: f32,
    /// When the overload starts (ms).
    #[arg(long)]
    overload_at_ms: Option<u64>,
    /// Uniform noise on measured positions (rad or m).
    #[arg(long, default_value_t = 0.0)]
    sensor_noise: f32,
    /// Seed of the injected faults.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Print one JSON object at the end.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct HwRunArgs {
    /// The `improve` run whose ledger certifies the policy.
    #[arg(long)]
    run: PathBuf,
    /// Content hash of the checkpoint to run; default: the run's champion.
    #[arg(long)]
    policy: Option<String>,
    /// Serial port of the arm's controller (or the emulator's --link).
    #[arg(long)]
    link: String,
    #[command(flatten)]
    scenario: ScenarioArg,
    #[command(flatten)]
    drive: DriveArgs,
}

/// Settings shared by the verbs that drive an arm.
#[derive(Args)]
pub struct DriveArgs {
    /// Run-loop settings (TOML, `RunConfig`: rate_hz, stale_state_ms, max_late_ticks,
    /// episode_s, contact_load, lifted_m, after_lift_s).
    #[arg(long)]
    run_config: Option<PathBuf>,
    /// Safety-envelope settings (TOML, `EnvelopeConfig`); default: the training controller's
    /// own limits for this arm.
    #[arg(long)]
    envelope: Option<PathBuf>,
    /// Largest contact force the pre-flight simulation may predict (N).
    #[arg(long, default_value_t = 60.0)]
    max_contact_force: f64,
    #[command(flatten)]
    record: crate::RecordArgs,
    /// Print one JSON object on stdout at the end.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct BenchHwArgs {
    /// Seconds of the control-loop run.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// E-stop trials.
    #[arg(long, default_value_t = 10)]
    estops: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn toml_file<T: serde::de::DeserializeOwned + Default>(path: &Option<PathBuf>) -> Result<T> {
    match path {
        None => Ok(T::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("{}", p.display()))
        }
    }
}

/// The envelope for `arm` at the loop's rate, unless a file says otherwise.
fn envelope_config(arm: &ArmModel, env: &EnvConfig, run: &RunConfig, file: &Option<PathBuf>) -> Result<EnvelopeConfig> {
    match file {
        Some(_) => toml_file(file),
        None => Ok(EnvelopeConfig::for_arm(arm, 1.0 / run.rate_hz, env.control_dt())),
    }
}

/// A stop flag raised by Ctrl-C.
fn ctrl_c_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&flag);
    ctrlc::set_handler(move || f.store(true, Ordering::SeqCst)).context("installing the Ctrl-C handler")?;
    Ok(flag)
}

pub fn emulate(a: EmulateArgs) -> Result<()> {
    let arm = Arc::new(ArmModel::default_arm()?);
    let env = EnvConfig::default();
    let scenario = a.scenario.load()?;
    let faults = FaultConfig {
        drop: a.drop,
        corrupt: a.corrupt,
        latency_ms: a.latency_ms,
        disconnect_at_ms: a.disconnect_at_ms,
        stall_joint: a.stall_joint,
        overload: a.overload,
        overload_at_ms: a.overload_at_ms,
        sensor_noise: a.sensor_noise,
        seed: a.fault_seed,
    };
    for (name, p) in [("--drop", a.drop), ("--corrupt", a.corrupt)] {
        if !(0.0..=1.0).contains(&p) {
            bail!("{name} {p} is not a fraction in [0, 1]");
        }
    }
    let twin = Twin::new(Arc::clone(&arm), &env, &scenario, EMULATOR_TICK_S)?;
    let emu = Emulator::start_with(EmulatorConfig::for_twin(&arm, EMULATOR_TICK_S, faults), twin.bus(), Some(&a.link))?;
    eprintln!(
        "regrasp emulator on {} (firmware at {:.0} Hz, sim twin); Ctrl-C to stop",
        emu.path.display(),
        1.0 / EMULATOR_TICK_S
    );
    let stop = ctrl_c_flag()?;
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && a.seconds.is_none_or(|s| start.elapsed().as_secs_f64() < s) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = emu.report();
    let truth = twin.truth();
    #[derive(Serialize)]
    struct Out {
        seconds: f64,
        ticks: u64,
        mode: Option<String>,
        torque: bool,
        writes: u64,
        largest_servo_jump: f32,
        bad_frames: u64,
        injected_faults: u64,
        tick_jitter_max_us: u64,
        tick_jitter_p99_us: u64,
        outcome: Option<String>,
        twin_error: Option<String>,
    }
    let out = Out {
        seconds: start.elapsed().as_secs_f64(),
        ticks: r.ticks,
        mode: r.mode.map(|m| format!("{m:?}")),
        torque: r.torque,
        writes: r.writes,
        largest_servo_jump: r.largest_jump,
        bad_frames: r.bad_frames,
        injected_faults: r.injected,
        tick_jitter_max_us: r.tick_jitter_us.0,
        tick_jitter_p99_us: r.tick_jitter_us.1,
        outcome: truth.and_then(|t| t.outcome).map(|o| format!("{:?}: {}", o.kind, o.evidence.note)),
        twin_error: twin.error(),
    };
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{} ticks in {:.1} s, mode {:?}, torque {}, {} writes, largest servo jump {:.4}, {} bad frames, {} injected faults, tick jitter p99 {} µs (max {} µs); twin outcome: {}",
            out.ticks,
            out.seconds,
            out.mode,
            out.torque,
            out.writes,
            out.largest_servo_jump,
            out.bad_frames,
            out.injected_faults,
            out.tick_jitter_p99_us,
            out.tick_jitter_max_us,
            out.outcome.as_deref().unwrap_or("none yet")
        );
    }
    Ok(())
}

/// The certificate the run's ledger gives `hash` for `arm`, if any.
pub fn certificate(ledger: &Ledger, hash: &str, arm: &ArmModel) -> Result<Option<Certificate>> {
    let arm_hash = ledger.meta("arm_hash")?.unwrap_or_default();
    let promoted = ledger.generations()?.into_iter().find(|g| {
        g.status == "promoted"
            && g.challenger.as_deref() == Some(hash)
            && g.decision.as_ref().is_some_and(|d| d.promote)
    });
    let Some(g) = promoted else { return Ok(None) };
    if arm_hash != format!("{:016x}", arm.content_hash) {
        bail!(
            "checkpoint {hash} was promoted in {} for arm {arm_hash}, not for this arm ({:016x})",
            ledger.path().display(),
            arm.content_hash
        );
    }
    Ok(Some(Certificate {
        checkpoint: hash.to_string(),
        arm_hash,
        source: format!("{} generation {}", ledger.path().display(), g.generation),
        evidence: g
            .decision
            .map(|d| d.checks.iter().map(|c| format!("{}: {}", c.name, c.detail)).collect::<Vec<_>>().join("; "))
            .unwrap_or_default(),
    }))
}

/// Loads the certified policy of `run` (its champion, or `hash`).
pub fn certified_policy(
    run: &Path,
    hash: Option<&str>,
    arm: &ArmModel,
) -> Result<(regrasp_policy::eval::LoadedPolicy, Certificate)> {
    let path = run.join("ledger.sqlite");
    if !path.exists() {
        bail!("{} has no ledger.sqlite: only a policy promoted by `regrasp improve` may drive an arm", run.display());
    }
    let ledger = Ledger::open(&path)?;
    let hash = match hash {
        Some(h) => h.to_string(),
        None => ledger.champion()?.map(|(h, _)| h).with_context(|| format!("{} has no champion", path.display()))?,
    };
    let (dir, _, _) =
        ledger.checkpoint(&hash)?.with_context(|| format!("checkpoint {hash} is not in {}", path.display()))?;
    let cert = certificate(&ledger, &hash, arm)?;
    let policy = admit(cert.as_ref(), &run.join(&dir), arm)?;
    // `admit` refuses a missing certificate, so this holds one.
    let cert = cert.context("no certificate")?;
    Ok((policy, cert))
}

pub fn run(a: HwRunArgs) -> Result<()> {
    let arm = Arc::new(ArmModel::default_arm()?);
    let env = Arc::new(EnvConfig::default());
    let scenario = a.scenario.load()?;
    let run_cfg: RunConfig = toml_file(&a.drive.run_config)?;
    run_cfg.validate()?;
    let (policy, cert) = certified_policy(&a.run, a.policy.as_deref(), &arm)?;
    eprintln!("certified: {} ({})", cert.checkpoint, cert.source);
    let pre = preflight(&policy, &arm, &env, &scenario, a.drive.max_contact_force)?;
    eprintln!("pre-flight: {:?}, peak contact {:.1} N", pre.outcome, pre.peak_contact_force);
    let envelope = SafetyEnvelope::new(Arc::clone(&arm), envelope_config(&arm, &env, &run_cfg, &a.drive.envelope)?)?;
    let bridge = Bridge::connect(LinkConfig::new(a.link.clone()), arm.dof(), None, std::process::id())?;
    let mut guarded = Guarded::new(bridge, envelope)?;
    let stop = ctrl_c_flag()?;
    // The e-stop key: any line on stdin (Enter) stops the arm; a closed stdin does not.
    let key = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut line = String::new();
        if matches!(std::io::stdin().read_line(&mut line), Ok(n) if n > 0) {
            key.store(true, Ordering::SeqCst);
        }
    });
    eprintln!("running; Enter or Ctrl-C stops the arm");
    let rec = a.drive.record.recorder("hw run", &crate::fresh_rrd(&a.run.join("rerun"), "hw-run"))?;
    let names: Vec<String> =
        arm.arm_joints.iter().map(|j| j.name.clone()).chain(std::iter::once("gripper".to_string())).collect();
    let mut pilot = PolicyPilot::new(policy);
    let mut sensor = ObjectEstimate::placed(&scenario);
    let report =
        run_episode(&mut guarded, &mut pilot, &arm, &env, &scenario, &mut sensor, &run_cfg, &stop, &mut |t| {
            if let Some(s) = rec.stream() {
                regrasp_logs::scalars::log_hardware_tick(s, t.tick, t.elapsed_s, &names, &t.commanded, &t.measured);
                if t.interventions != 0 {
                    let what = regrasp_hardware::envelope::intervention_names(t.interventions).join(", ");
                    regrasp_logs::scalars::log_hardware_event(s, false, &format!("envelope: {what}"));
                }
            }
        })?;
    if let Some(s) = rec.stream()
        && report.stop.is_safety_stop()
    {
        regrasp_logs::scalars::log_hardware_event(s, true, &format!("stopped: {:?}", report.stop));
    }
    print_report(&report, &cert, a.drive.json)
}

fn print_report(r: &EpisodeReport, cert: &Certificate, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::json!({ "certificate": cert, "report": r }));
    } else {
        println!(
            "{:?} after {:.1} s ({} ticks, {} decisions); tick lateness p99 {} µs; envelope {:.1} µs p99; gripper {:.3} m, peak load {:.2}, held lift {:.3} m",
            r.stop,
            r.seconds,
            r.ticks,
            r.decisions,
            r.tick_lateness_us[1],
            r.envelope_us[1],
            r.final_gripper,
            r.max_gripper_load,
            r.held_lift
        );
        for (n, c) in r.interventions.iter().filter(|(_, c)| *c > 0) {
            println!("  envelope {n}: {c}");
        }
    }
    Ok(())
}

/// A benchmark pilot: the tool sways gently along Y, gripper open.
struct SwayPilot {
    step: u64,
}

impl Pilot for SwayPilot {
    fn act(&mut self, _obs: &[f32], env: &EnvConfig) -> regrasp_hardware::Result<Action> {
        self.step += 1;
        let y = (self.step as f64 * 0.15).sin() as f32 * 0.5 * env.action.max_translation as f32;
        Ok(Action { translation: [0.0, y, 0.0], yaw: 0.0, gripper: -1.0 })
    }
}

pub fn bench(a: BenchHwArgs) -> Result<()> {
    let arm = Arc::new(ArmModel::default_arm()?);
    let env = Arc::new(EnvConfig::default());
    let scenario = ScenarioDistribution::default().sample(0);
    let run_cfg = RunConfig { episode_s: a.seconds, ..RunConfig::default() };
    let connect = |twin: &Twin| -> Result<(Emulator, Guarded<Bridge>)> {
        let emu = Emulator::start_with(
            EmulatorConfig::for_twin(&arm, EMULATOR_TICK_S, FaultConfig::default()),
            twin.bus(),
            None,
        )?;
        let bridge = Bridge::connect(LinkConfig::new(emu.path.to_string_lossy().to_string()), arm.dof(), None, 1)?;
        let env_cfg = EnvelopeConfig::for_arm(&arm, 1.0 / run_cfg.rate_hz, env.control_dt());
        let guarded = Guarded::new(bridge, SafetyEnvelope::new(Arc::clone(&arm), env_cfg)?)?;
        Ok((emu, guarded))
    };
    // 1. The loop at 50 Hz through the whole chain.
    let twin = Twin::new(Arc::clone(&arm), &env, &scenario, EMULATOR_TICK_S)?;
    let (emu, mut guarded) = connect(&twin)?;
    let stop = AtomicBool::new(false);
    let mut sensor = ObjectEstimate::placed(&scenario);
    let r = run_episode(
        &mut guarded,
        &mut SwayPilot { step: 0 },
        &arm,
        &env,
        &scenario,
        &mut sensor,
        &run_cfg,
        &stop,
        &mut |_| {},
    )?;
    let firmware = emu.report();
    drop(guarded);
    drop(emu);
    // 2. The envelope alone over many random commands near the pose.
    let mut envelope = SafetyEnvelope::new(Arc::clone(&arm), EnvelopeConfig::for_arm(&arm, 0.02, env.control_dt()))?;
    let q0 = twin.truth().map(|t| t.q).unwrap_or_else(|| vec![0.0; arm.dof()]);
    envelope.start_from(&q0, 0.05)?;
    let n = 100_000;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let cmds: Vec<regrasp_hardware::JointCommand> = (0..n)
        .map(|_| regrasp_hardware::JointCommand {
            positions: q0.iter().map(|q| q + 0.2 * rnd()).collect(),
            gripper: 0.05 + 0.1 * rnd(),
        })
        .collect();
    let t0 = Instant::now();
    for c in &cmds {
        std::hint::black_box(envelope.check(c, 0.1));
    }
    let envelope_us = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    // 3. E-stop: operator stop raised at a random moment; time until the stop frame is written.
    let mut estop_ms = Vec::new();
    let mut estop_ticks = Vec::new();
    for k in 0..a.estops {
        let twin = Twin::new(Arc::clone(&arm), &env, &scenario, EMULATOR_TICK_S)?;
        let (emu, mut guarded) = connect(&twin)?;
        let stop = Arc::new(AtomicBool::new(false));
        let delay = Duration::from_millis(300 + (k as u64 * 37) % 200);
        let flag = Arc::clone(&stop);
        let raised = std::thread::spawn(move || {
            std::thread::sleep(delay);
            flag.store(true, Ordering::SeqCst);
            Instant::now()
        });
        let mut sensor = ObjectEstimate::placed(&scenario);
        let cfg = RunConfig { episode_s: 5.0, ..RunConfig::default() };
        let rep = run_episode(
            &mut guarded,
            &mut SwayPilot { step: 0 },
            &arm,
            &env,
            &scenario,
            &mut sensor,
            &cfg,
            &stop,
            &mut |_| {},
        )?;
        let sent = Instant::now();
        let raised = raised.join().map_err(|_| anyhow::anyhow!("e-stop thread panicked"))?;
        if rep.stop != regrasp_hardware::session::StopReason::Operator {
            bail!("e-stop trial {k} ended with {:?}", rep.stop);
        }
        estop_ms.push(sent.saturating_duration_since(raised).as_secs_f64() * 1e3);
        let deadline = Instant::now() + Duration::from_secs(2);
        while emu.report().estop_ticks.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if let Some((arrived, off)) = emu.report().estop_ticks {
            estop_ticks.push(off - arrived);
        }
    }
    estop_ms.sort_by(f64::total_cmp);
    let period_ms = 1e3 / run_cfg.rate_hz;
    let json = serde_json::json!({
        "rate_hz": run_cfg.rate_hz,
        "loop_seconds": r.seconds,
        "ticks": r.ticks,
        "tick_lateness_us": { "p50": r.tick_lateness_us[0], "p99": r.tick_lateness_us[1], "max": r.tick_lateness_us[2] },
        "envelope_and_send_us": { "p50": r.envelope_us[0], "p99": r.envelope_us[1], "max": r.envelope_us[2] },
        "envelope_check_us": envelope_us,
        "firmware_tick_jitter_us": { "p99": firmware.tick_jitter_us.1, "max": firmware.tick_jitter_us.0 },
        "largest_servo_jump": firmware.largest_jump,
        "estop_to_frame_ms": { "max": estop_ms.last().copied().unwrap_or(f64::NAN), "median": estop_ms.get(estop_ms.len() / 2).copied().unwrap_or(f64::NAN), "trials": estop_ms.len() },
        "estop_frame_to_torque_off_ticks_max": estop_ticks.iter().max(),
        "control_period_ms": period_ms,
    });
    if a.json {
        println!("{json}");
    } else {
        println!(
            "control loop at {} Hz for {:.1} s ({} ticks): tick lateness p50 {} µs, p99 {} µs, max {} µs",
            run_cfg.rate_hz, r.seconds, r.ticks, r.tick_lateness_us[0], r.tick_lateness_us[1], r.tick_lateness_us[2]
        );
        println!(
            "envelope check: {envelope_us:.2} µs per command ({n} commands); check + serial send in the loop: p99 {:.1} µs",
            r.envelope_us[1]
        );
        println!(
            "firmware tick jitter p99 {} µs (max {} µs); largest servo jump {:.4}",
            firmware.tick_jitter_us.1, firmware.tick_jitter_us.0, firmware.largest_jump
        );
        println!(
            "e-stop to stop frame written: max {:.2} ms, median {:.2} ms over {} trials (control period {period_ms:.0} ms); torque off within {} firmware tick(s) of the frame",
            estop_ms.last().copied().unwrap_or(f64::NAN),
            estop_ms.get(estop_ms.len() / 2).copied().unwrap_or(f64::NAN),
            estop_ms.len(),
            estop_ticks.iter().max().map_or("?".to_string(), |t| t.to_string())
        );
    }
    Ok(())
}

/// How the operator describes an object and where it goes.
fn describe(s: &Scenario) -> String {
    let e = s.object.shape.extents();
    format!(
        "{:?} {:.1} × {:.1} × {:.1} cm, {:.0} g{}, centre at x = {:.3} m, y = {:.3} m, yaw {:.0}°",
        s.object.shape.kind(),
        100.0 * e[0],
        100.0 * e[1],
        100.0 * e[2],
        1000.0 * s.object.mass,
        if s.object.pose.lying { ", lying" } else { "" },
        s.object.pose.x,
        s.object.pose.y,
        s.object.pose.yaw.to_degrees()
    )
}

/// Reads one answer line from the operator; `None` at the end of input.
fn ask(lines: &mut impl Iterator<Item = std::io::Result<String>>, prompt: &str) -> Result<Option<String>> {
    eprint!("{prompt} ");
    match lines.next() {
        Some(l) => Ok(Some(l?.trim().to_lowercase())),
        None => Ok(None),
    }
}

pub fn validate(a: HwValidateArgs) -> Result<()> {
    use regrasp_curriculum::ledger::RealTrial;
    use regrasp_policy::eval::{EpisodeRecord, EvalReport};
    use regrasp_sim::outcome::{Evidence, Outcome, OutcomeKind};
    use regrasp_sim::suite::SeedSpace;
    let arm = Arc::new(ArmModel::default_arm()?);
    let env = Arc::new(EnvConfig::default());
    let run_cfg: RunConfig = toml_file(&a.drive.run_config)?;
    run_cfg.validate()?;
    let mut scenarios = Vec::new();
    for p in &a.scenarios {
        scenarios.push(Scenario::from_path(p)?);
    }
    scenarios.extend(a.seeds.iter().map(|s| ScenarioDistribution::default().sample(*s)));
    if scenarios.is_empty() {
        bail!("no scenarios: give --scenario FILE or --seed N (repeatable)");
    }
    // The firewall: frozen-suite scenarios never enter the ledger's archive (and so never the
    // curriculum), not even as physical trials.
    for s in &scenarios {
        if let Some(space @ (SeedSpace::Heldout | SeedSpace::Ood | SeedSpace::Canary)) = SeedSpace::of(s.seed) {
            bail!(
                "scenario seed {} lies in the {space:?} seed space; real trials feed the curriculum, so they must not use frozen-suite seeds",
                s.seed
            );
        }
    }
    let (policy, cert) = certified_policy(&a.run, a.policy.as_deref(), &arm)?;
    eprintln!("certified: {} ({})", cert.checkpoint, cert.source);
    let ledger_path = a.run.join("ledger.sqlite");
    let mut ledger = Ledger::open(&ledger_path)?;
    let generation = ledger.champion()?.map_or(0, |(_, g)| g);
    let suite = (1..)
        .map(|n| format!("real/{n}"))
        .find(|n| ledger.evaluation(&policy.hash, n).ok().flatten().is_none())
        .unwrap_or_else(|| "real/1".into());
    let rec = a.drive.record.recorder("hw validate", &crate::fresh_rrd(&a.run.join("rerun"), "hw-validate"))?;
    let envelope_cfg = envelope_config(&arm, &env, &run_cfg, &a.drive.envelope)?;
    let emulated = match a.emulate {
        true => {
            let twin = Twin::new(Arc::clone(&arm), &env, &scenarios[0], EMULATOR_TICK_S)?;
            let emu = Emulator::start_with(
                EmulatorConfig::for_twin(&arm, EMULATOR_TICK_S, FaultConfig::default()),
                twin.bus(),
                None,
            )?;
            Some((twin, emu))
        }
        false => None,
    };
    let link = match (&emulated, &a.link) {
        (Some((_, emu)), _) => emu.path.to_string_lossy().to_string(),
        (None, Some(l)) => l.clone(),
        (None, None) => bail!("give --link PORT or --emulate"),
    };
    let bridge = Bridge::connect(LinkConfig::new(link), arm.dof(), None, std::process::id())?;
    let mut guarded = Guarded::new(bridge, SafetyEnvelope::new(Arc::clone(&arm), envelope_cfg)?)?;
    let stop = ctrl_c_flag()?;
    let names: Vec<String> =
        arm.arm_joints.iter().map(|j| j.name.clone()).chain(std::iter::once("gripper".to_string())).collect();
    let mut pilot = PolicyPilot::new(policy.clone());
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let (mut records, mut trials) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let verdicts: Vec<&str> = OutcomeKind::ALL.iter().map(|k| k.name()).collect();
    for (i, scenario) in scenarios.iter().enumerate() {
        eprintln!("\nscenario {} of {}: place a {}", i + 1, scenarios.len(), describe(scenario));
        if let Some(s) = rec.stream() {
            // Show the set-up: the scene at rest with the object where it must go.
            let mut sim = regrasp_sim::GraspEnv::new(Arc::clone(&arm), Arc::clone(&env))?;
            sim.reset(scenario)?;
            if let (Some(g), Some(st)) = (sim.scene_geometry(), sim.scene_state()) {
                s.set_time_sequence("trial", i as i64);
                regrasp_logs::scene::log_geometry(s, &g, &st.body_poses, true);
                regrasp_logs::scene::log_geometry(s, &g, &st.body_poses, false);
            }
            regrasp_logs::scalars::log_hardware_event(
                s,
                false,
                &format!("trial {}: place a {}", i + 1, describe(scenario)),
            );
        }
        if emulated.is_none() {
            let Some(go) = ask(&mut lines, "Enter to run, s to skip, q to quit:")? else { break };
            if go == "q" {
                break;
            }
            if go == "s" {
                continue;
            }
        }
        if let Err(e) = preflight(&policy, &arm, &env, scenario, a.drive.max_contact_force) {
            eprintln!("skipped: {e}");
            continue;
        }
        guarded.arm().rearm(std::process::id().wrapping_add(i as u32 + 1))?;
        // The ready pose: the scenario's start, gripper open.
        let home = regrasp_sim::GraspEnv::new(Arc::clone(&arm), Arc::clone(&env))?
            .start_configuration(scenario, "scenario")?;
        regrasp_hardware::session::move_to(&mut guarded, &home, 2.0 * arm.gripper_joints[0].upper, &run_cfg, &stop)?;
        if let Some((twin, _)) = &emulated {
            // The emulated operator puts the object down in front of the arm, where it is.
            twin.place(scenario)?;
        }
        let mut sensor = ObjectEstimate::placed(scenario);
        let report =
            run_episode(&mut guarded, &mut pilot, &arm, &env, scenario, &mut sensor, &run_cfg, &stop, &mut |t| {
                if let Some(s) = rec.stream() {
                    regrasp_logs::scalars::log_hardware_tick(s, t.tick, t.elapsed_s, &names, &t.commanded, &t.measured);
                }
            })?;
        eprintln!(
            "arm: {:?} after {:.1} s; gripper {:.3} m, peak load {:.2}, held lift {:.3} m",
            report.stop, report.seconds, report.final_gripper, report.max_gripper_load, report.held_lift
        );
        let twin_verdict = emulated
            .as_ref()
            .map(|(twin, _)| twin.truth().and_then(|t| t.outcome).map_or(OutcomeKind::Timeout, |o| o.kind));
        let kind = loop {
            if let Some(k) = twin_verdict {
                eprintln!("verdict (the sim twin's classifier): {}", k.name());
                break k;
            }
            let Some(v) = ask(&mut lines, &format!("verdict ({}):", verdicts.join(", ")))? else {
                bail!("input ended before the verdict of trial {}; nothing was recorded", i + 1)
            };
            match OutcomeKind::ALL.iter().find(|k| k.name() == v) {
                Some(k) => break *k,
                None => eprintln!("{v:?} is not one of {}", verdicts.join(", ")),
            }
        };
        let evidence = Evidence {
            time: report.seconds,
            lift: report.held_lift,
            max_held_lift: report.held_lift,
            gripper_opening: report.final_gripper,
            note: format!(
                "operator: {}; host: {:?}, peak gripper load {:.2}",
                kind.name(),
                report.stop,
                report.max_gripper_load
            ),
            ..Evidence::default()
        };
        if let Some(s) = rec.stream() {
            regrasp_logs::scalars::log_hardware_event(s, kind != OutcomeKind::Success, &evidence.note);
        }
        records.push(EpisodeRecord {
            scenario: *scenario,
            policy_hash: policy.hash.clone(),
            actions: vec![],
            final_state_hash: 0,
            outcome: Outcome { kind, evidence },
            metrics: Default::default(),
        });
        trials.push(RealTrial { verdict: kind.name().into(), evidence: serde_json::to_value(&report)? });
        if report.stop.is_safety_stop() {
            eprintln!("the arm was stopped for safety ({:?}); the protocol ends here", report.stop);
            break;
        }
    }
    drop(guarded);
    if records.is_empty() {
        bail!("no trial was run; nothing recorded");
    }
    let successes = records.iter().filter(|r| r.outcome.kind == OutcomeKind::Success).count() as u64;
    let n = records.len() as u64;
    let (lo, hi) = regrasp_policy::stats::wilson95(successes, n);
    let mut outcomes = std::collections::BTreeMap::new();
    for k in OutcomeKind::ALL {
        outcomes.insert(k.name().to_string(), records.iter().filter(|r| r.outcome.kind == k).count() as u64);
    }
    let report = EvalReport {
        suite: suite.clone(),
        policy_hash: policy.hash.clone(),
        episodes: n,
        successes,
        success_rate: successes as f64 / n as f64,
        ci95: [lo, hi],
        outcomes,
        mean_time_to_lift_s: None,
        wall_s: start.elapsed().as_secs_f64(),
    };
    let id = ledger.record_real_evaluation(generation, &report, &records, &trials)?;
    if a.drive.json {
        println!("{}", serde_json::json!({ "certificate": cert, "evaluation": id, "report": report }));
    } else {
        println!(
            "{suite}: {successes}/{n} succeeded (95 % CI {:.0}–{:.0} %), recorded in {} as evaluation {id}",
            100.0 * lo,
            100.0 * hi,
            ledger_path.display()
        );
    }
    Ok(())
}
