//! `regrasp hw ...` and `regrasp bench hw`: the emulator, certified episodes on an arm (or the
//! emulator) through the safety-checked bridge, the validation protocol, and the control-loop
//! benchmark. Which policy may drive an arm is decided by the certificate rule of the run
//! (`RunDir::certify`); there is no override.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use regrasp_curriculum::run::RunDir;
use regrasp_hardware::emulator::FaultConfig;
use regrasp_hardware::lockstep::{Lockstep, LockstepConfig, ObjectView, Start, parse_stall};
use regrasp_hardware::rig::{EMULATOR_TICK_S, EmulatedArm, Port};
use regrasp_hardware::session::RunConfig;
use regrasp_hardware::trial::{KeyboardOperator, Operator, Station, TwinOperator};
use regrasp_sim::{ArmModel, Scenario};

use crate::args::{ArmArgs, JsonArg, RecordArgs, ScenarioArg, toml_file};
use crate::hw_feetech::{BusArgs, HwCalibrateArgs};

#[derive(Subcommand)]
pub enum HwCommand {
    /// Create a pseudo-terminal (symlinked at --link) running the firmware core on the host,
    /// with the sim twin as the physical arm; inject faults on request. With `--bus feetech`,
    /// the virtual SO-101 instead: six virtual STS3215 servos on the pseudo-terminal, their
    /// shafts the twin's joints, and their calibration written for `hw run --calibration`.
    /// Runs until Ctrl-C or --seconds, then prints what it saw.
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
    /// The validation protocol in lockstep, for diagnosis: the host's run loop, the envelope,
    /// the firmware core and the sim twin in one thread on a simulated clock, so each trial is
    /// reproducible bit for bit. Prints the pre-flight's prediction beside the twin's verdict
    /// per scenario. Each difference from the simulator (the homed start, the core's step
    /// limits, the dead-reckoned object, the core's rate) can be switched off alone to measure
    /// what it costs. Writes nothing to the run.
    Lockstep(HwLockstepArgs),
    /// Calibrate an arm on a Feetech bus (the SO-101) as LeRobot does, writing LeRobot's file:
    /// torque off, you put every joint in the middle of its travel (Enter), then sweep every
    /// joint but the wrist roll end to end (Enter). The ranges go to the servos' EEPROM too.
    Calibrate(HwCalibrateArgs),
}

#[derive(Args)]
pub struct EmulateArgs {
    /// Where to symlink the pseudo-terminal (e.g. /tmp/ttyREGRASP0); an existing symlink is
    /// replaced, any other file is left alone and refused.
    #[arg(long)]
    pub(crate) link: PathBuf,
    /// `feetech`: emulate the arm's servo bus (the virtual SO-101) instead of its controller
    /// board.
    #[arg(long)]
    bus: Option<String>,
    /// Where to write the virtual servos' calibration with --bus feetech (LeRobot's JSON);
    /// default: LINK.calibration.json.
    #[arg(long)]
    pub(crate) calibration_out: Option<PathBuf>,
    /// A fault of one virtual servo with --bus feetech, `ID:KIND` or `ID:KIND@MS` (from MS ms
    /// after start); repeatable. KIND: `silent` (no status packets), `gone` (off the bus),
    /// `bad-checksum`, `overload`, `overheat`, `voltage` (its error bits), `stall` (the joint is
    /// blocked), `old-firmware` (3.9 where the others run 3.10), `multi-turn` (Phase bit 4 set,
    /// a misconfigured servo).
    #[arg(long = "servo-fault")]
    pub(crate) servo_faults: Vec<String>,
    #[command(flatten)]
    arm: ArmArgs,
    #[command(flatten)]
    scenario: ScenarioArg,
    /// Stop after this long (s); default: until Ctrl-C.
    #[arg(long)]
    pub(crate) seconds: Option<f64>,
    /// Fraction of frames dropped, each direction.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) drop: f64,
    /// Fraction of frames with one bit flipped, each direction.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) corrupt: f64,
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
    pub(crate) fault_seed: u64,
    #[command(flatten)]
    pub(crate) output: JsonArg,
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
    #[arg(long, required_unless_present = "bus")]
    link: Option<String>,
    #[command(flatten)]
    bus: BusArgs,
    #[command(flatten)]
    scenario: ScenarioArg,
    #[command(flatten)]
    drive: DriveArgs,
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
    #[arg(long, required_unless_present_any = ["emulate", "bus"])]
    link: Option<String>,
    /// Validate against an emulator started here, whose sim twin plays the operator: it places
    /// each scenario's object and its classifier gives the verdict (no prompts). With
    /// `--bus feetech`, the emulator is the virtual SO-101 driven over the Feetech path.
    #[arg(long, conflicts_with = "link")]
    emulate: bool,
    #[command(flatten)]
    bus: BusArgs,
    /// Scenario files (TOML or JSON), in order; repeat the flag for more.
    #[arg(long = "scenario")]
    scenarios: Vec<PathBuf>,
    /// Seeds of training-distribution scenarios to add after the files; repeat for more.
    #[arg(long = "seed")]
    seeds: Vec<u64>,
    #[command(flatten)]
    drive: DriveArgs,
}

#[derive(Args)]
pub struct HwLockstepArgs {
    /// The `improve` run whose ledger certifies the policy.
    #[arg(long)]
    run: PathBuf,
    /// Content hash of the checkpoint; default: the run's champion.
    #[arg(long)]
    policy: Option<String>,
    /// Seeds of training-distribution scenarios, in order; repeat for more.
    #[arg(long = "seed", required = true)]
    seeds: Vec<u64>,
    /// Where each trial starts: `homed` (the run loop drives the arm there, as on an arm) or
    /// `placed` (put there at rest, as the simulator starts).
    #[arg(long, default_value = "homed")]
    start: Start,
    /// What the host knows of the object: `estimate` (dead reckoning, as on a desktop arm) or
    /// `camera` (the twin's true pose, as the simulator observes it).
    #[arg(long, default_value = "estimate")]
    object: ObjectView,
    /// The core's tick rate, which is also the twin's control rate (Hz).
    #[arg(long, default_value_t = 1.0 / EMULATOR_TICK_S)]
    core_hz: f64,
    /// Lift the core's per-tick step limits (for attribution only).
    #[arg(long)]
    no_step_limits: bool,
    /// Stall a joint's servo mid-episode, `JOINT@SECONDS` (0-based joint, seconds after the
    /// first episode's start); it stays stalled.
    #[arg(long, value_parser = parse_stall)]
    stall: Option<(usize, f64)>,
    #[command(flatten)]
    drive: DriveArgs,
}

/// Settings shared by the verbs that drive an arm.
#[derive(Args)]
pub struct DriveArgs {
    /// Run-loop settings (TOML, `RunConfig`: rate_hz, stale_state_ms, max_late_ticks,
    /// episode_s, contact_load, lifted_m, after_lift_s, stall_s).
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
    arm: ArmArgs,
    #[command(flatten)]
    record: RecordArgs,
    #[command(flatten)]
    output: JsonArg,
}

impl DriveArgs {
    /// The station: `arm` at `port`, under its task's env config, with these limits.
    fn station(&self, arm: Arc<ArmModel>, port: Port) -> Result<Station> {
        let env = Arc::new(arm.task.env.clone());
        let run: RunConfig = match &self.run_config {
            Some(path) => regrasp_sim::task::overlay_file(&RunConfig::for_task(&env), path)?,
            None => RunConfig::for_task(&env),
        };
        run.validate()?;
        let envelope = match &self.envelope {
            Some(_) => toml_file(&self.envelope)?,
            None => Station::default_envelope(&arm, &env, &run),
        };
        let (max_contact_force, nonce) = (self.max_contact_force, std::process::id());
        Ok(Station { arm, env, port, envelope, run, max_contact_force, nonce })
    }
}

/// A stop flag raised by Ctrl-C.
pub fn ctrl_c_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&flag);
    ctrlc::set_handler(move || f.store(true, Ordering::SeqCst)).context("installing the Ctrl-C handler")?;
    Ok(flag)
}

pub fn emulate(a: EmulateArgs) -> Result<()> {
    let arm = a.arm.load()?;
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
    let scenario = a.scenario.load(&arm.task.distribution)?;
    if let Some(bus) = a.bus.as_deref() {
        if regrasp_hardware::rig::feetech_bus(bus)?.is_some() {
            bail!("--bus {bus}: the emulator serves its own port (--link): give `--bus feetech`");
        }
        return crate::hw_feetech::emulate(&a, &arm, &scenario);
    }
    let em = EmulatedArm::start(&arm, &arm.task.env, &scenario, &faults, Some(&a.link))?;
    let path = em.emulator.path.display();
    eprintln!("regrasp emulator on {path} (firmware at {:.0} Hz, sim twin); Ctrl-C to stop", 1.0 / EMULATOR_TICK_S);
    let stop = ctrl_c_flag()?;
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && a.seconds.is_none_or(|s| start.elapsed().as_secs_f64() < s) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = em.emulator.report();
    let seconds = start.elapsed().as_secs_f64();
    let outcome = em.twin.truth().and_then(|t| t.outcome).map(|o| format!("{:?}: {}", o.kind, o.evidence.note));
    let v = serde_json::json!({
        "seconds": seconds,
        "ticks": r.ticks,
        "mode": r.mode.map(|m| format!("{m:?}")),
        "torque": r.torque,
        "writes": r.writes,
        "largest_servo_jump": r.largest_jump,
        "bad_frames": r.bad_frames,
        "injected_faults": r.injected,
        "tick_jitter_max_us": r.tick_jitter_us.0,
        "tick_jitter_p99_us": r.tick_jitter_us.1,
        "outcome": outcome,
        "twin_error": em.twin.error(),
    });
    if a.output.json {
        out!("{v}");
    } else {
        out!(
            "{} ticks in {:.1} s, mode {:?}, torque {}, {} writes, largest servo jump {:.4}, {} bad frames, {} injected \
             faults, tick jitter p99 {} µs (max {} µs); twin outcome: {}",
            r.ticks,
            seconds,
            r.mode,
            r.torque,
            r.writes,
            r.largest_jump,
            r.bad_frames,
            r.injected,
            r.tick_jitter_us.1,
            r.tick_jitter_us.0,
            outcome.as_deref().unwrap_or("none yet")
        );
    }
    Ok(())
}

pub fn run(a: HwRunArgs) -> Result<()> {
    let station = a.drive.station(a.drive.arm.load()?, a.bus.port(a.link.as_deref(), None)?)?;
    let scenario = a.scenario.load(&station.arm.task.distribution)?;
    let certified = RunDir::open(&a.run)?.certify(a.policy.as_deref(), &station.arm)?;
    let c = certified.certificate();
    eprintln!("certified: {} ({})", c.checkpoint, c.source);
    let stop = ctrl_c_flag()?;
    // The e-stop key: any line on stdin (Enter) stops the arm; a closed stdin does not.
    let key = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut line = String::new();
        if matches!(std::io::stdin().read_line(&mut line), Ok(n) if n > 0) {
            key.store(true, Ordering::SeqCst);
        }
    });
    let rec = a.drive.record.recorder("hw run", &regrasp_logs::fresh_file(&a.run.join("rerun"), "hw-run"))?;
    let t = station.run_trial(certified, &scenario, &stop, &rec, &mut |line| eprintln!("{line}"))?;
    let r = &t.report;
    if a.drive.output.json {
        out!("{}", serde_json::json!({ "certificate": t.certificate, "report": r }));
        return Ok(());
    }
    out!(
        "{} after {:.1} s ({} ticks, {} decisions); tick lateness p99 {} µs; envelope {:.1} µs p99; gripper {:.3} {}, \
         peak load {:.2}, held lift {:.3} m",
        r.stop.describe(),
        r.seconds,
        r.ticks,
        r.decisions,
        r.tick_lateness_us[1],
        r.envelope_us[1],
        r.final_gripper,
        station.arm.gripper.servo_unit(),
        r.max_gripper_load,
        r.held_lift
    );
    for (n, c) in r.interventions.iter().filter(|(_, c)| *c > 0) {
        out!("  envelope {n}: {c}");
    }
    Ok(())
}

pub fn lockstep(a: HwLockstepArgs) -> Result<()> {
    let cfg = LockstepConfig {
        core_tick_s: 1.0 / a.core_hz,
        step_limits: !a.no_step_limits,
        start: a.start,
        object: a.object,
        stall: a.stall,
    };
    let arm = a.drive.arm.load()?;
    cfg.validate(&arm)?;
    let scenarios: Vec<Scenario> = a.seeds.iter().map(|s| arm.task.distribution.sample(*s)).collect();
    let port = Port::Emulated { scenario: scenarios[0], faults: FaultConfig::default() };
    let station = a.drive.station(arm, port)?;
    let run = RunDir::open(&a.run)?;
    let say = &mut |line: &str| eprintln!("{line}");
    let r = Lockstep::protocol(&station, &run, a.policy.as_deref(), &scenarios, cfg, say)?;
    if a.drive.output.json {
        out!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    for sc in &r.scenarios {
        match (&sc.preflight, &sc.trial) {
            (Ok(p), Some(t)) => out!(
                "seed {}: pre-flight {:?}, lockstep {:?} (host: {} after {:.1} s, held lift {:.3} m, object seen up to \
                 {:.1} mm off)",
                sc.seed,
                p.outcome,
                t.outcome,
                t.report.stop.describe(),
                t.report.seconds,
                t.report.held_lift,
                1e3 * t.max_object_error_m
            ),
            (Err(e), _) => out!("seed {}: refused by the pre-flight: {e}", sc.seed),
            (Ok(_), None) => {}
        }
    }
    out!("lockstep: {} of {} trials succeeded ({:?})", r.successes, r.trials, r.config);
    Ok(())
}

pub fn validate(a: HwValidateArgs) -> Result<()> {
    let mut scenarios = a.scenarios.iter().map(|p| Ok(Scenario::from_path(p)?)).collect::<Result<Vec<_>>>()?;
    let arm = a.drive.arm.load()?;
    scenarios.extend(a.seeds.iter().map(|s| arm.task.distribution.sample(*s)));
    let Some(first) = scenarios.first() else { bail!("no scenarios: give --scenario FILE or --seed N (repeatable)") };
    let port = a.bus.port(a.link.as_deref(), a.emulate.then(|| (*first, FaultConfig::default())))?;
    let station = a.drive.station(arm, port)?;
    let mut run = RunDir::open(&a.run)?;
    let certified = run.certify(a.policy.as_deref(), &station.arm)?;
    let c = certified.certificate();
    eprintln!("certified: {} ({})", c.checkpoint, c.source);
    let rec = a.drive.record.recorder("hw validate", &regrasp_logs::fresh_file(&a.run.join("rerun"), "hw-validate"))?;
    let stop = ctrl_c_flag()?;
    let mut keyboard = KeyboardOperator::new(std::io::stdin().lock(), std::io::stderr());
    let operator: &mut dyn Operator = if a.emulate { &mut TwinOperator } else { &mut keyboard };
    let say = &mut |line: &str| eprintln!("{line}");
    let v = station.validate(&mut run, certified, &scenarios, operator, &stop, &rec, say)?;
    let r = &v.report;
    if a.drive.output.json {
        out!("{}", serde_json::json!({ "certificate": v.certificate, "evaluation": v.evaluation, "report": r }));
    } else {
        out!(
            "{}: {}/{} succeeded (95 % CI {:.0}–{:.0} %), recorded in {} as evaluation {}",
            v.suite,
            r.successes,
            r.episodes,
            100.0 * r.ci95[0],
            100.0 * r.ci95[1],
            run.ledger().path().display(),
            v.evaluation
        );
    }
    Ok(())
}
