//! Setup checks on every connect: the servos must be the ones the calibration names, of the
//! right model, on one firmware version, and configured as the arm needs (return delay, status
//! replies, position mode, single-turn feedback, PID gains, the calibrated limits and homing,
//! torque and current caps); a value that differs is written to EEPROM only then, torque off and
//! unlocked, read back and checked, and the EEPROM locked again. Anything wrong is an error that
//! names the servo and the fix, and the arm is not armed.
//!
//! The values are LeRobot's for the SO-101 (`real-arms.md` §1.7, §5): P 16, I 0, D 32, return
//! delay 0, and for the gripper Max_Torque_Limit 500 (50 %), Protection_Current 250 (≈1.6 A) and
//! Overload_Torque 25 %, written to the live Torque_Limit too (the servo copies the EEPROM value
//! there only at power-on). They are data ([`SetupConfig`]), per motor.

use regrasp_firmware::sts::{self, addr, sign_bit};

use super::bus::{BusFault, FeetechBus, Transport};
use super::calibration::Calibration;

/// Torque and current caps of one servo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServoCaps {
    /// Max_Torque_Limit and the live Torque_Limit (0.1 % of stall torque).
    pub max_torque: u16,
    /// Protection_Current (6.5 mA units).
    pub protection_current: u16,
    /// Overload_Torque (% of stall torque that starts the overload timer).
    pub overload_torque: u8,
}

impl ServoCaps {
    /// The STS3215's factory caps.
    pub const FACTORY: ServoCaps = ServoCaps { max_torque: 1000, protection_current: 511, overload_torque: 80 };
    /// LeRobot's gripper caps for the SO-101 (its gripper burns out at the factory caps).
    pub const SO101_GRIPPER: ServoCaps = ServoCaps { max_torque: 500, protection_current: 250, overload_torque: 25 };
}

/// What the servos must be and hold.
#[derive(Clone, Debug, PartialEq)]
pub struct SetupConfig {
    /// Model number every servo must report.
    pub model: u16,
    /// Position-loop gains (P, I, D).
    pub pid: (u8, u8, u8),
    /// Return delay (2 µs units).
    pub return_delay: u8,
    /// Caps of each motor, in the calibration's order.
    pub caps: Vec<ServoCaps>,
}

impl SetupConfig {
    /// The SO-101's (LeRobot's values; the last motor is the gripper).
    pub fn so101(motors: usize) -> Self {
        let mut caps = vec![ServoCaps::FACTORY; motors];
        if let Some(g) = caps.last_mut() {
            *g = ServoCaps::SO101_GRIPPER;
        }
        Self { model: sts::MODEL_STS3215, pid: (16, 0, 32), return_delay: 0, caps }
    }
}

/// One EEPROM or register value changed by setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The motor's name.
    pub motor: String,
    /// The register's name.
    pub register: &'static str,
    /// The value found.
    pub was: u16,
    /// The value written and read back.
    pub now: u16,
}

/// What setup found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupReport {
    /// The servos' firmware version (major, minor).
    pub firmware: (u8, u8),
    /// Every value written (empty on a connect after the first).
    pub changes: Vec<Change>,
}

/// Why setup refused the arm.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// A servo did not answer or answered wrongly.
    #[error("servo {id} ({motor}): {fault}")]
    Bus {
        /// Its ID.
        id: u8,
        /// Its motor's name.
        motor: String,
        /// What went wrong.
        fault: BusFault,
    },
    /// A servo is another model.
    #[error(
        "servo {id} ({motor}) is model {found}, not {expected} (an STS3215): is the right servo on this ID? \
         (`lerobot-setup-motors` sets IDs one servo at a time)"
    )]
    Model {
        /// Its ID.
        id: u8,
        /// Its motor's name.
        motor: String,
        /// The model it reports.
        found: u16,
        /// The model the arm needs.
        expected: u16,
    },
    /// The servos run different firmware versions.
    #[error(
        "the servos run different firmware versions ({0}); flash them all to one version with Feetech's FD \
         software before use"
    )]
    Firmware(String),
    /// A value written to a servo did not read back.
    #[error(
        "servo {id} ({motor}): wrote {register} = {wrote} but it reads back {read}; the EEPROM may be locked or \
         failing: power-cycle the arm and retry, else replace the servo"
    )]
    Verify {
        /// Its ID.
        id: u8,
        /// Its motor's name.
        motor: String,
        /// The register.
        register: &'static str,
        /// The value written.
        wrote: u16,
        /// The value read back.
        read: u16,
    },
}

/// A register setup checks: address, width (bytes), name.
struct Register(u8, u8, &'static str);

const RETURN_DELAY: Register = Register(addr::RETURN_DELAY, 1, "Return_Delay_Time");
const STATUS_LEVEL: Register = Register(addr::RESPONSE_STATUS_LEVEL, 1, "Response_Status_Level");
const MIN_LIMIT: Register = Register(addr::MIN_POSITION_LIMIT, 2, "Min_Position_Limit");
const MAX_LIMIT: Register = Register(addr::MAX_POSITION_LIMIT, 2, "Max_Position_Limit");
const MAX_TORQUE: Register = Register(addr::MAX_TORQUE_LIMIT, 2, "Max_Torque_Limit");
const PHASE: Register = Register(addr::PHASE, 1, "Phase");
const P_GAIN: Register = Register(addr::P_COEFFICIENT, 1, "P_Coefficient");
const D_GAIN: Register = Register(addr::D_COEFFICIENT, 1, "D_Coefficient");
const I_GAIN: Register = Register(addr::I_COEFFICIENT, 1, "I_Coefficient");
const PROTECTION_CURRENT: Register = Register(addr::PROTECTION_CURRENT, 2, "Protection_Current");
const HOMING_OFFSET: Register = Register(addr::HOMING_OFFSET, 2, "Homing_Offset");
const OPERATING_MODE: Register = Register(addr::OPERATING_MODE, 1, "Operating_Mode");
const OVERLOAD_TORQUE: Register = Register(addr::OVERLOAD_TORQUE, 1, "Overload_Torque");
const TORQUE_LIMIT: Register = Register(addr::TORQUE_LIMIT, 2, "Torque_Limit");

/// Phase bit 4: full-angle (multi-turn) feedback, which some STS3215s ship with.
const PHASE_MULTI_TURN: u16 = 0x10;

/// Checks and configures every servo of `bus`'s calibration; torque is left off.
pub fn setup<T: Transport>(bus: &mut FeetechBus<T>, cfg: &SetupConfig) -> Result<SetupReport, SetupError> {
    let motors: Vec<(String, u8)> = bus.calibration.motors.iter().map(|(n, m)| (n.clone(), m.id)).collect();
    fn on(motor: &str, id: u8) -> impl Fn(BusFault) -> SetupError + '_ {
        move |fault| SetupError::Bus { id, motor: motor.to_string(), fault }
    }
    // Who is there, and what.
    let mut firmware = Vec::new();
    for (motor, id) in &motors {
        bus.ping(*id).map_err(on(motor, *id))?;
        let model = bus.read_word(*id, addr::MODEL_NUMBER).map_err(on(motor, *id))?;
        if model != cfg.model {
            return Err(SetupError::Model { id: *id, motor: motor.clone(), found: model, expected: cfg.model });
        }
        let v = bus.read_register(*id, addr::FIRMWARE_MAJOR, 2).map_err(on(motor, *id))?;
        firmware.push((motor.clone(), v[0], v[1]));
    }
    let first = firmware.first().map_or((0, 0), |(_, a, b)| (*a, *b));
    if firmware.iter().any(|(_, a, b)| (*a, *b) != first) {
        let list: Vec<String> = firmware.iter().map(|(m, a, b)| format!("{m} {a}.{b}")).collect();
        return Err(SetupError::Firmware(list.join(", ")));
    }
    // Torque off before touching EEPROM.
    for (motor, id) in &motors {
        bus.write_register(*id, addr::TORQUE_ENABLE, &[0]).map_err(on(motor, *id))?;
    }
    let mut report = SetupReport { firmware: first, changes: Vec::new() };
    let calibration: Calibration = bus.calibration.clone();
    for (i, (motor, m)) in calibration.motors.iter().enumerate() {
        let id = m.id;
        let caps = cfg.caps.get(i).copied().unwrap_or(ServoCaps::FACTORY);
        let homing = sts::to_sign_magnitude(m.homing_offset, sign_bit::HOMING_OFFSET).unwrap_or(0);
        let phase = read(bus, motor, id, &PHASE)?;
        let wanted: [(&Register, u16); 13] = [
            (&RETURN_DELAY, cfg.return_delay as u16),
            (&STATUS_LEVEL, 1),
            (&OPERATING_MODE, 0),
            (&PHASE, phase & !PHASE_MULTI_TURN),
            (&P_GAIN, cfg.pid.0 as u16),
            (&I_GAIN, cfg.pid.1 as u16),
            (&D_GAIN, cfg.pid.2 as u16),
            (&HOMING_OFFSET, homing),
            (&MIN_LIMIT, m.range_min),
            (&MAX_LIMIT, m.range_max),
            (&MAX_TORQUE, caps.max_torque),
            (&PROTECTION_CURRENT, caps.protection_current),
            (&OVERLOAD_TORQUE, caps.overload_torque as u16),
        ];
        let mut unlocked = false;
        for (reg, want) in wanted {
            let was = read(bus, motor, id, reg)?;
            if was == want {
                continue;
            }
            if !unlocked {
                bus.write_register(id, addr::LOCK, &[0]).map_err(on(motor, id))?;
                unlocked = true;
            }
            write_verified(bus, motor, id, reg, want)?;
            report.changes.push(Change { motor: motor.clone(), register: reg.2, was, now: want });
        }
        if unlocked {
            bus.write_register(id, addr::LOCK, &[1]).map_err(on(motor, id))?;
        }
        // The live torque cap: copied from EEPROM only at power-on, so written now too.
        let live = read(bus, motor, id, &TORQUE_LIMIT)?;
        if live != caps.max_torque {
            write_verified(bus, motor, id, &TORQUE_LIMIT, caps.max_torque)?;
            report.changes.push(Change {
                motor: motor.clone(),
                register: TORQUE_LIMIT.2,
                was: live,
                now: caps.max_torque,
            });
        }
    }
    Ok(report)
}

fn read<T: Transport>(bus: &mut FeetechBus<T>, motor: &str, id: u8, reg: &Register) -> Result<u16, SetupError> {
    let d = bus.read_register(id, reg.0, reg.1).map_err(|fault| SetupError::Bus { id, motor: motor.into(), fault })?;
    Ok(if reg.1 == 2 { u16::from_le_bytes([d[0], d[1]]) } else { d[0] as u16 })
}

fn write_verified<T: Transport>(
    bus: &mut FeetechBus<T>,
    motor: &str,
    id: u8,
    reg: &Register,
    value: u16,
) -> Result<(), SetupError> {
    let bytes = value.to_le_bytes();
    bus.write_register(id, reg.0, &bytes[..reg.1 as usize]).map_err(|fault| SetupError::Bus {
        id,
        motor: motor.into(),
        fault,
    })?;
    let read_back = read(bus, motor, id, reg)?;
    if read_back != value {
        return Err(SetupError::Verify { id, motor: motor.into(), register: reg.2, wrote: value, read: read_back });
    }
    Ok(())
}
