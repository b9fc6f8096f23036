//! `regrasp hw ...` for an arm on a Feetech servo bus (the SO-101): which bus an arm is on,
//! the virtual SO-101 (`hw emulate --bus feetech`) and `hw calibrate`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use regrasp_hardware::emulator::FaultConfig;
use regrasp_hardware::feetech::{self, ScheduledFault};
use regrasp_hardware::rig::{EMULATOR_TICK_S, Port, feetech_bus};
use regrasp_sim::{ArmModel, Scenario};

use crate::args::ArmArgs;
use crate::hw::{EmulateArgs, ctrl_c_flag};

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
    pub fn port(&self, link: Option<&str>, emulated: Option<(Scenario, FaultConfig)>) -> Result<Port> {
        Ok(Port::choose(self.bus.as_deref(), link, self.calibration.as_deref(), emulated)?)
    }
}

/// `hw emulate --bus feetech`: the virtual SO-101 on a pseudo-terminal until Ctrl-C.
pub fn emulate(a: &EmulateArgs, arm: &Arc<ArmModel>, scenario: &Scenario) -> Result<()> {
    let servos = arm.profile.arm_joints.len() + 1;
    let mut plan = a
        .servo_faults
        .iter()
        .map(|s| ScheduledFault::parse(s, servos).map_err(|e| anyhow::anyhow!("--servo-fault {e}")))
        .collect::<Result<Vec<_>>>()?;
    let wire = feetech::WireFaults { drop: a.drop, corrupt: a.corrupt, seed: a.fault_seed };
    let v = feetech::VirtualArm::start(arm, &arm.task.env, scenario, EMULATOR_TICK_S, wire, Some(&a.link))?;
    let cal_path =
        a.calibration_out.clone().unwrap_or_else(|| PathBuf::from(format!("{}.calibration.json", a.link.display())));
    v.calibration.save(&cal_path)?;
    eprintln!(
        "virtual SO-101 on {} ({} STS3215 servos at 1 Mbps, the sim twin's joints); calibration in {}; Ctrl-C to stop",
        v.servos.path.display(),
        v.calibration.motors.len(),
        cal_path.display()
    );
    let stop = ctrl_c_flag()?;
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && a.seconds.is_none_or(|s| start.elapsed().as_secs_f64() < s) {
        let ms = start.elapsed().as_millis() as u64;
        plan.retain(|f| {
            if f.at_ms > ms {
                return true;
            }
            f.apply(&mut v.servos.bus());
            eprintln!("servo {}: {} from {} ms", f.id, f.kind, ms);
            false
        });
        std::thread::sleep(Duration::from_millis(5));
    }
    let bus = v.servos.bus();
    let torque: Vec<bool> = bus.servos.iter().map(|s| s.torque_on()).collect();
    let outcome = v.twin.truth().and_then(|t| t.outcome).map(|o| format!("{:?}: {}", o.kind, o.evidence.note));
    let report = serde_json::json!({
        "seconds": start.elapsed().as_secs_f64(),
        "requests": bus.requests,
        "bad_requests": bus.bad_requests,
        "injected_faults": bus.injected,
        "torque": torque,
        "outcome": outcome,
        "twin_error": v.twin.error(),
        "calibration": cal_path,
    });
    if a.output.json {
        out!("{report}");
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
    use regrasp_hardware::feetech::{BusConfig, FeetechBus, SerialTransport, calibrate::calibrate};
    let arm = a.arm.load()?;
    let Some(port) = feetech_bus(&a.bus)? else {
        bail!("--bus feetech: give the arm's port, `feetech:PORT` (e.g. feetech:/dev/ttyACM0)")
    };
    let names = feetech::motor_names(&arm);
    let transport = SerialTransport::open(&port, feetech::port::BAUD)?;
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
