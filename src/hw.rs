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
use regrasp_hardware::rig::{EMULATOR_TICK_S, EmulatedArm, Port};
use regrasp_hardware::session::RunConfig;
use regrasp_hardware::trial::{KeyboardOperator, Operator, Station, TwinOperator};
use regrasp_sim::{ArmModel, Scenario};

use crate::args::{ArmArgs, JsonArg, RecordArgs, ScenarioArg, toml_file};

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
    /// Calibrate an arm on a Feetech bus (the SO-101) as LeRobot does, writing LeRobot's file:
    /// torque off, you put every joint in the middle of its travel (Enter), then sweep every
    /// joint but the wrist roll end to end (Enter). The ranges go to the servos' EEPROM too.
    Calibrate(HwCalibrateArgs),
}

#[derive(Args)]
pub struct HwCalibrateArgs {
    /// The arm's bus: `feetech:PORT` (its USB adapter, e.g. feetech:/dev/ttyACM0).
    #[arg(long)]
    bus: String,
    /// Where to write the calibration (LeRobot's JSON; `--calibration` of `hw run` reads it).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    arm: ArmArgs,
}

#[derive(Args)]
pub struct EmulateArgs {
    /// Where to symlink the pseudo-terminal (e.g. /tmp/ttyREGRASP0); an existing symlink is
    /// replaced, any other file is left alone and refused.
    #[arg(long)]
    link: PathBuf,
    /// `feetech`: emulate the arm's servo bus (the virtual SO-101) instead of its controller
    /// board.
    #[arg(long)]
    bus: Option<String>,
    /// Where to write the virtual servos' calibration with --bus feetech (LeRobot's JSON);
    /// default: LINK.calibration.json.
    #[arg(long)]
    calibration_out: Option<PathBuf>,
    /// A fault of one virtual servo with --bus feetech, `ID:KIND` or `ID:KIND@MS` (from MS ms
    /// after start); repeatable. KIND: `silent` (no status packets), `gone` (off the bus),
    /// `bad-checksum`, `overload`, `overheat`, `voltage` (its error bits), `stall` (the joint is
    /// blocked), `old-firmware` (3.9 where the others run 3.10), `multi-turn` (Phase bit 4 set,
    /// a misconfigured servo).
    #[arg(long = "servo-fault")]
    servo_faults: Vec<String>,
    #[command(flatten)]
    arm: ArmArgs,
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
    #[command(flatten)]
    output: JsonArg,
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

/// Which servo bus an arm is on, for the verbs that drive one.
#[derive(Args)]
pub struct BusArgs {
    /// The arm's servos on a Feetech bus, driven directly by the host (the SO-101):
    /// `feetech:PORT` for its USB adapter (e.g. `feetech:/dev/ttyACM0`, or an emulator's link),
    /// or `feetech` with --emulate for the virtual SO-101 started here. Without it, the arm has
    /// regrasp's controller board on --link.
    #[arg(long)]
    bus: Option<String>,
    /// The arm's calibration: LeRobot's JSON, as `lerobot-calibrate` (or `hw emulate --bus
    /// feetech`) writes it. Needed with --bus feetech:PORT.
    #[arg(long)]
    calibration: Option<PathBuf>,
}

impl BusArgs {
    /// Where the arm is: on `link` (its controller board), on a Feetech bus, or emulated here
    /// with `emulated`'s first scenario and faults.
    fn port(&self, link: Option<&str>, emulated: Option<(Scenario, FaultConfig)>) -> Result<Port> {
        let feetech = |bus: &str| -> Result<Option<String>> {
            match bus.split_once(':') {
                Some(("feetech", port)) if !port.is_empty() => Ok(Some(port.to_string())),
                None if bus == "feetech" => Ok(None),
                _ => bail!("--bus {bus}: give `feetech:PORT` (e.g. feetech:/dev/ttyACM0), or `feetech` with --emulate"),
            }
        };
        Ok(match (&self.bus, link, emulated) {
            (None, _, Some((scenario, faults))) => Port::Emulated { scenario, faults },
            (None, Some(l), None) => Port::Serial(l.to_string()),
            (None, None, None) => bail!("give --link PORT, --bus feetech:PORT or --emulate"),
            (Some(b), _, Some((scenario, faults))) => match feetech(b)? {
                None => Port::EmulatedFeetech { scenario, faults },
                Some(_) => bail!("--emulate starts its own virtual SO-101: give `--bus feetech` without a port"),
            },
            (Some(b), _, None) => match feetech(b)? {
                Some(port) => {
                    let Some(calibration) = self.calibration.clone() else {
                        bail!(
                            "--bus {b} needs --calibration FILE (LeRobot's calibration JSON; `regrasp hw emulate --bus                              feetech` writes one for the virtual SO-101)"
                        )
                    };
                    Port::Feetech { port, calibration }
                }
                None => bail!("--bus feetech needs a port (`feetech:/dev/ttyACM0`), or --emulate"),
            },
        })
    }
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
fn ctrl_c_flag() -> Result<Arc<AtomicBool>> {
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
    match a.bus.as_deref() {
        None => {}
        Some("feetech") => return emulate_feetech(&a, &arm, &scenario),
        Some(other) => bail!(
            "--bus {other}: the emulator speaks `feetech` (the virtual SO-101) or, without --bus, regrasp's firmware"
        ),
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

/// One injected fault of a virtual servo (`--servo-fault ID:KIND[@MS]`).
struct ServoFaultAt {
    id: u8,
    kind: String,
    at_ms: u64,
    applied: bool,
}

impl ServoFaultAt {
    const KINDS: [&str; 9] =
        ["silent", "gone", "bad-checksum", "overload", "overheat", "voltage", "stall", "old-firmware", "multi-turn"];

    fn parse(s: &str, servos: usize) -> Result<Self> {
        let bad = || {
            anyhow::anyhow!(
                "--servo-fault {s}: give ID:KIND or ID:KIND@MS with ID 1–{servos} and KIND one of {}",
                Self::KINDS.join(", ")
            )
        };
        let (id, rest) = s.split_once(':').ok_or_else(bad)?;
        let (kind, at_ms) = match rest.split_once('@') {
            Some((k, ms)) => (k, ms.parse::<u64>().map_err(|_| bad())?),
            None => (rest, 0),
        };
        let id: u8 = id.parse().map_err(|_| bad())?;
        if !(1..=servos).contains(&(id as usize)) || !Self::KINDS.contains(&kind) {
            return Err(bad());
        }
        Ok(Self { id, kind: kind.to_string(), at_ms, applied: false })
    }

    fn apply(&mut self, bus: &mut regrasp_hardware::feetech::VirtualBus) {
        use regrasp_firmware::sts::{addr, error_bit};
        self.applied = true;
        let Some(s) = bus.servo_mut(self.id) else { return };
        match self.kind.as_str() {
            "silent" => s.fault.silent = true,
            "gone" => s.fault.gone = true,
            "bad-checksum" => s.fault.bad_checksum = true,
            "overload" => s.fault.error_bits |= error_bit::OVERLOAD,
            "overheat" => s.temperature = 75.0,
            "voltage" => s.voltage = 9.5,
            "stall" => s.fault.stalled = true,
            "old-firmware" => s.set_reg(addr::FIRMWARE_MINOR, 9),
            _ => s.set_reg(addr::PHASE, s.reg(addr::PHASE) | 0x10),
        }
    }
}

/// `hw emulate --bus feetech`: the virtual SO-101 on a pseudo-terminal until Ctrl-C.
fn emulate_feetech(a: &EmulateArgs, arm: &Arc<ArmModel>, scenario: &Scenario) -> Result<()> {
    use regrasp_hardware::feetech;
    use regrasp_hardware::twin::Twin;
    let twin = Twin::new(Arc::clone(arm), &arm.task.env, scenario, EMULATOR_TICK_S)?;
    let cal = feetech::virtual_calibration(arm);
    let cal_path =
        a.calibration_out.clone().unwrap_or_else(|| PathBuf::from(format!("{}.calibration.json", a.link.display())));
    cal.save(&cal_path)?;
    let mut plan =
        a.servo_faults.iter().map(|s| ServoFaultAt::parse(s, cal.motors.len())).collect::<Result<Vec<_>>>()?;
    let wire = feetech::WireFaults { drop: a.drop, corrupt: a.corrupt, seed: a.fault_seed };
    let servos = feetech::start_virtual_arm(&cal, &twin, EMULATOR_TICK_S, wire, Some(&a.link))?;
    eprintln!(
        "virtual SO-101 on {} ({} STS3215 servos at 1 Mbps, the sim twin's joints); calibration in {}; Ctrl-C to stop",
        servos.path.display(),
        cal.motors.len(),
        cal_path.display()
    );
    let stop = ctrl_c_flag()?;
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && a.seconds.is_none_or(|s| start.elapsed().as_secs_f64() < s) {
        let ms = start.elapsed().as_millis() as u64;
        for f in plan.iter_mut().filter(|f| !f.applied && f.at_ms <= ms) {
            f.apply(&mut servos.bus());
            eprintln!("servo {}: {} from {} ms", f.id, f.kind, ms);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let bus = servos.bus();
    let torque: Vec<bool> = bus.servos.iter().map(|s| s.torque_on()).collect();
    let outcome = twin.truth().and_then(|t| t.outcome).map(|o| format!("{:?}: {}", o.kind, o.evidence.note));
    let v = serde_json::json!({
        "seconds": start.elapsed().as_secs_f64(),
        "requests": bus.requests,
        "bad_requests": bus.bad_requests,
        "injected_faults": bus.injected,
        "torque": torque,
        "outcome": outcome,
        "twin_error": twin.error(),
        "calibration": cal_path,
    });
    if a.output.json {
        out!("{v}");
    } else {
        out!(
            "{} requests ({} with a bad checksum), {} packets dropped or corrupted by injection, torque {:?}; twin \
             outcome: {}",
            bus.requests,
            bus.bad_requests,
            bus.injected,
            torque,
            outcome.as_deref().unwrap_or("none yet")
        );
    }
    Ok(())
}

/// The keyboard side of `hw calibrate`: Enter confirms; during the sweep, the ranges so far
/// are shown and Enter ends it.
struct KeyboardCalibration {
    lines: std::sync::mpsc::Receiver<String>,
    shown: Instant,
}

impl regrasp_hardware::feetech::calibrate::CalibrationOperator for KeyboardCalibration {
    fn confirm(&mut self, message: &str) -> bool {
        eprintln!("{message}");
        self.lines.recv().is_ok()
    }

    fn start_sweep(&mut self, message: &str) {
        eprintln!("{message}");
    }

    fn sweeping(&mut self, ranges: &[(String, i32, i32)]) -> bool {
        if self.shown.elapsed() > Duration::from_millis(500) {
            let now: Vec<String> = ranges.iter().map(|(n, lo, hi)| format!("{n} {lo}..{hi}")).collect();
            eprintln!("  {}", now.join(", "));
            self.shown = Instant::now();
        }
        self.lines.try_recv().is_err()
    }
}

pub fn calibrate(a: HwCalibrateArgs) -> Result<()> {
    use regrasp_hardware::feetech::{self, BusConfig, FeetechBus, SerialTransport, calibrate::calibrate};
    let arm = a.arm.load()?;
    let Some(("feetech", port)) = a.bus.split_once(':') else {
        bail!("--bus {}: give `feetech:PORT` (e.g. feetech:/dev/ttyACM0)", a.bus)
    };
    let names = feetech::motor_names(&arm);
    let transport = SerialTransport::open(port, feetech::port::BAUD)?;
    let mut bus = FeetechBus::new(transport, feetech::virtual_calibration(&arm), BusConfig::default());
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if line.is_err() || tx.send(String::new()).is_err() {
                break;
            }
        }
    });
    let mut operator = KeyboardCalibration { lines, shown: Instant::now() };
    let cal = calibrate(&mut bus, &names, &mut operator, &mut std::thread::sleep)?;
    cal.save(&a.out)?;
    out!("calibration of {} motors written to {} (and to the servos' EEPROM)", cal.motors.len(), a.out.display());
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
        "{:?} after {:.1} s ({} ticks, {} decisions); tick lateness p99 {} µs; envelope {:.1} µs p99; gripper {:.3} {}, \
         peak load {:.2}, held lift {:.3} m",
        r.stop,
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
