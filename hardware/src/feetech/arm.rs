//! A Feetech arm as a rig assembles it: its calibration read for the arm model (motor names,
//! the gripper's sweep onto the jaw's travel), the controller core's limits (the model's limits
//! within the calibrated ranges), the bus opened and set up, and the core started on the host
//! over it; and the virtual SO-101 (calibrated virtual servos whose shafts are the twin's joints)
//! for emulation.

use std::path::Path;

use regrasp_firmware::protocol::JointLimit;
use regrasp_firmware::sts::{self, addr};
use regrasp_sim::ArmModel;

use super::bus::{BusConfig, FeetechBus, SerialTransport};
use super::calibration::{Calibration, MAX_COUNT, MotorCalibration, RAD_PER_COUNT};
use super::port::{BAUD, TwinShafts, VirtualBusPort, WireFaults};
use super::setup::{SetupConfig, SetupReport, setup};
use super::virtual_servo::{VirtualBus, VirtualServo};
use crate::emulator::{Emulator, EmulatorConfig, FaultConfig};
use crate::error::{HardwareError, Result};
use crate::twin::Twin;

/// The motor names of `arm` in bus order: its arm joints, then its gripper joint.
pub fn motor_names(arm: &ArmModel) -> Vec<String> {
    arm.profile.arm_joints.iter().chain(arm.profile.gripper_joints.iter().take(1)).cloned().collect()
}

/// `cal` made for `arm`: the gripper's calibrated sweep mapped onto the gripper's servo range.
fn for_arm(cal: Calibration, arm: &ArmModel) -> Calibration {
    let (lo, hi) = arm.gripper.servo_range();
    match arm.profile.gripper_joints.first() {
        Some(g) => cal.with_travel(g, lo, hi),
        None => cal,
    }
}

/// Loads a LeRobot calibration file for `arm`.
pub fn load_calibration(path: &Path, arm: &ArmModel) -> Result<Calibration> {
    Ok(for_arm(Calibration::load(path, &motor_names(arm))?, arm))
}

/// The controller core's limits over `cal`: each joint's model limits within its calibrated
/// range, stepping at most its URDF speed per tick of `tick_s`; then the gripper's.
pub fn core_limits(arm: &ArmModel, cal: &Calibration, tick_s: f64) -> Result<(Vec<JointLimit>, JointLimit)> {
    let within = |l: JointLimit, m: &MotorCalibration, name: &str| {
        let (lo, hi) = m.range_radians();
        let (min, max) = (l.min.max(lo as f32), l.max.min(hi as f32));
        if min >= max {
            return Err(HardwareError::Config(format!(
                "calibration: motor `{name}`'s range ({lo:.3}..{hi:.3} rad) does not overlap the model's limits \
                 ({:.3}..{:.3} rad); recalibrate with `regrasp hw calibrate`",
                l.min, l.max
            )));
        }
        Ok(JointLimit { min, max, max_step: l.max_step })
    };
    let joints = Twin::joint_limits(arm, tick_s)
        .into_iter()
        .zip(&cal.motors)
        .map(|(l, (name, m))| within(l, m, name))
        .collect::<Result<Vec<_>>>()?;
    let (name, g) = cal.motors.last().ok_or_else(|| HardwareError::Config("calibration: no motors".into()))?;
    let gripper = within(Twin::gripper_limit(arm, tick_s), g, name)?;
    Ok((joints, gripper))
}

/// A connected Feetech arm: the controller core running on the host over its bus, with the
/// setup report; the bridge connects to `core.path`.
pub struct FeetechArm {
    /// The core (the firmware's controller in a host thread, behind a pseudo-terminal).
    pub core: Emulator,
    /// What setup found and changed.
    pub setup: SetupReport,
}

impl FeetechArm {
    /// Opens the bus at `port`, sets the servos up for `arm` and `cal`, and starts the core
    /// ticking every `tick_s` (s) with `faults` injected (emulation only; none on a real arm).
    pub fn connect(arm: &ArmModel, cal: Calibration, port: &str, tick_s: f64, faults: FaultConfig) -> Result<Self> {
        let (limits, gripper) = core_limits(arm, &cal, tick_s)?;
        let transport = SerialTransport::open(port, BAUD)?;
        let mut bus = FeetechBus::new(transport, cal, BusConfig::default());
        let motors = bus.calibration.motors.len();
        let report = setup(&mut bus, &SetupConfig::so101(motors))
            .map_err(|e| HardwareError::Mismatch(format!("{port}: {e}")))?;
        let ticks_per_second = (1.0 / tick_s).round() as u32;
        let cfg = EmulatorConfig {
            period_ms: (tick_s * 1000.0).round() as u64,
            start: vec![],
            limits,
            controller: super::core_config(gripper, ticks_per_second),
            faults,
        };
        let core = Emulator::start_with(cfg, bus, None)?;
        Ok(Self { core, setup: report })
    }
}

/// The calibration of the virtual SO-101: each body joint's range the model's limits about the
/// middle count 2048 (the wrist roll its whole turn, as LeRobot records it), the gripper's range
/// its jaw travel at the encoder's resolution, and homing offsets spread over both signs so that
/// the sign-magnitude register is exercised.
pub fn virtual_calibration(arm: &ArmModel) -> Calibration {
    let names = motor_names(arm);
    let n = names.len();
    let half = |lo: f64, hi: f64| (lo.abs().min(hi.abs()) / RAD_PER_COUNT).floor().min(2047.0) as u16;
    let motors = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let (min, max) = if i + 1 == n {
                let (lo, hi) = arm.gripper.servo_range();
                let span = ((hi - lo) / RAD_PER_COUNT).round().min(MAX_COUNT as f64) as u16;
                (2048 - span / 2, 2048 - span / 2 + span)
            } else if i == n - 2 {
                (0, MAX_COUNT)
            } else {
                let j = &arm.arm_joints[i];
                let h = half(j.lower, j.upper);
                (2048 - h, 2048 + h)
            };
            let homing_offset = [-1021, 1401, -402, 33, -1700, 950][i % 6];
            (
                name,
                MotorCalibration {
                    id: i as u8 + 1,
                    drive_mode: 0,
                    homing_offset,
                    range_min: min,
                    range_max: max,
                    travel: None,
                },
            )
        })
        .collect();
    for_arm(Calibration { motors }, arm)
}

/// The virtual SO-101 (or any Feetech arm's stand-in): a sim twin holding a scenario's object,
/// and calibrated virtual servos mounted on its joints, on a pseudo-terminal.
pub struct VirtualArm {
    /// The servos on their pseudo-terminal.
    pub servos: VirtualBusPort,
    /// The twin whose joints the servos' shafts are.
    pub twin: Twin,
    /// How the servos are calibrated (the file a host needs).
    pub calibration: Calibration,
}

impl VirtualArm {
    /// `arm` holding `scenario`'s object under `env`, its servos exchanging with the twin every
    /// `tick_s` (s), `faults` on the wire, the pseudo-terminal symlinked at `link` when given.
    pub fn start(
        arm: &std::sync::Arc<ArmModel>,
        env: &regrasp_sim::EnvConfig,
        scenario: &regrasp_sim::Scenario,
        tick_s: f64,
        faults: WireFaults,
        link: Option<&Path>,
    ) -> Result<Self> {
        let twin = Twin::new(std::sync::Arc::clone(arm), env, scenario, tick_s)?;
        let calibration = virtual_calibration(arm);
        let servos = start_virtual_arm(&calibration, &twin, tick_s, faults, link)?;
        Ok(Self { servos, twin, calibration })
    }
}

/// Virtual STS3215s calibrated as `cal` says (their IDs, their homing offsets saved in EEPROM),
/// each shaft at the middle of its range; otherwise factory-fresh.
pub fn calibrated_servos(cal: &Calibration) -> VirtualBus {
    let servos = cal
        .motors
        .iter()
        .map(|(_, m)| {
            let mut s = VirtualServo::new(m.id, m.mid() + m.homing_offset as f64);
            let raw = sts::to_sign_magnitude(m.homing_offset, sts::sign_bit::HOMING_OFFSET).unwrap_or(0).to_le_bytes();
            s.set_reg(addr::HOMING_OFFSET, raw[0]);
            s.set_reg(addr::HOMING_OFFSET + 1, raw[1]);
            s.power_cycle();
            s
        })
        .collect();
    VirtualBus::new(servos)
}

/// The virtual SO-101: [`calibrated_servos`] whose shafts are `twin`'s joints, on a
/// pseudo-terminal (symlinked at `link` when given) with `faults` on its wire.
pub fn start_virtual_arm(
    cal: &Calibration,
    twin: &Twin,
    tick_s: f64,
    faults: WireFaults,
    link: Option<&Path>,
) -> Result<VirtualBusPort> {
    let mut bus = calibrated_servos(cal);
    let mut shafts = TwinShafts::new(twin.bus(), cal.clone(), tick_s);
    shafts.sync(&mut bus);
    VirtualBusPort::start_with(bus, shafts, faults, link)
}
