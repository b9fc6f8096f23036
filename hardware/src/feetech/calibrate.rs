//! `regrasp hw calibrate`: LeRobot's calibration procedure for a Feetech arm, writing LeRobot's
//! file. Torque off; the operator puts every joint in the middle of its travel; half-turn
//! homing makes that pose read 2047 on every servo (`Homing_Offset = present − 2047`, written
//! with offset and limits reset first); the operator sweeps every joint but the wrist roll
//! through its whole travel while the positions are sampled; the wrist roll keeps the whole
//! turn. A sweep that crosses the 0/4095 seam (the joint's travel would wrap) or a joint that
//! never moved is refused with what to do. The limits go to each servo's EEPROM, read back.
//! Source: `real-arms.md` §3 (lerobot@7427f318 `so_follower.py::calibrate`).

use std::time::Duration;

use regrasp_firmware::sts::{self, addr, from_sign_magnitude, sign_bit};

use super::bus::{BusFault, FeetechBus, Transport};
use super::calibration::{Calibration, MAX_COUNT, MotorCalibration};

/// The person calibrating.
pub trait CalibrationOperator {
    /// Shows `message` and waits until the operator has done what it asks; `false` aborts.
    fn confirm(&mut self, message: &str) -> bool;
    /// Shows how to sweep; the sweep starts at once.
    fn start_sweep(&mut self, message: &str);
    /// Polled while the joints are swept, with each motor's (min, max) so far; `false` ends
    /// the sweep.
    fn sweeping(&mut self, ranges: &[(String, i32, i32)]) -> bool;
}

/// Why calibration stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalibrateError {
    /// The bus failed.
    #[error("servo {id} ({motor}): {fault}")]
    Bus {
        /// The servo's ID.
        id: u8,
        /// Its motor.
        motor: String,
        /// What failed.
        fault: BusFault,
    },
    /// The positions could not be read during the sweep.
    #[error("reading the servos during the sweep: {0}")]
    Sweep(BusFault),
    /// The operator stopped.
    #[error("calibration aborted by the operator; nothing was saved")]
    Aborted,
    /// A joint's sweep jumped across the encoder's 0/4095 seam.
    #[error(
        "{0}'s travel crosses the encoder's 0/4095 seam (its reading jumped from {1} to {2}): put the joint nearer \
         the middle of its travel before pressing Enter, then calibrate again"
    )]
    Seam(String, i32, i32),
    /// A joint was not moved.
    #[error("{0} did not move during the sweep (it stayed at {1}): sweep every joint but the wrist roll end to end")]
    NotMoved(String, i32),
    /// A value written did not read back.
    #[error("servo {0} ({1}): {2} did not read back as written; power-cycle the arm and calibrate again")]
    Verify(u8, String, &'static str),
}

/// How often positions are sampled during the sweep.
pub const SWEEP_PERIOD: Duration = Duration::from_millis(20);

/// Calibrates the motors `names` (IDs 1, 2, … in order; the second-to-last is the wrist roll,
/// which keeps the whole turn) over `bus`, whose own calibration is ignored; returns the new
/// calibration (also written to the servos).
pub fn calibrate<T: Transport>(
    bus: &mut FeetechBus<T>,
    names: &[String],
    operator: &mut dyn CalibrationOperator,
    sleep: &mut dyn FnMut(Duration),
) -> Result<Calibration, CalibrateError> {
    let ids: Vec<u8> = (1..=names.len() as u8).collect();
    let err = |i: usize| {
        let (id, motor) = (ids[i], names[i].clone());
        move |fault| CalibrateError::Bus { id, motor, fault }
    };
    // The bus reads raw counts: a calibration with offset 0 and the whole turn.
    bus.calibration = Calibration {
        motors: names
            .iter()
            .zip(&ids)
            .map(|(n, &id)| {
                (
                    n.clone(),
                    MotorCalibration {
                        id,
                        drive_mode: 0,
                        homing_offset: 0,
                        range_min: 0,
                        range_max: MAX_COUNT,
                        travel: None,
                    },
                )
            })
            .collect(),
    };
    bus.last_errors = vec![0; names.len()];
    for (i, &id) in ids.iter().enumerate() {
        bus.ping(id).map_err(err(i))?;
        bus.write_register(id, addr::TORQUE_ENABLE, &[0]).map_err(err(i))?;
    }
    if !operator.confirm("Torque is off. Move every joint to the middle of its travel, then press Enter.") {
        return Err(CalibrateError::Aborted);
    }
    // Half-turn homing: offset and limits reset, then the middle reads 2047.
    let mut offsets = Vec::new();
    for (i, &id) in ids.iter().enumerate() {
        bus.write_register(id, addr::LOCK, &[0]).map_err(err(i))?;
        write_checked(bus, id, &names[i], addr::HOMING_OFFSET, 0, "Homing_Offset").map_err(|e| e.or_bus(err(i)))?;
        write_checked(bus, id, &names[i], addr::MIN_POSITION_LIMIT, 0, "Min_Position_Limit")
            .map_err(|e| e.or_bus(err(i)))?;
        write_checked(bus, id, &names[i], addr::MAX_POSITION_LIMIT, MAX_COUNT, "Max_Position_Limit")
            .map_err(|e| e.or_bus(err(i)))?;
        let present =
            from_sign_magnitude(bus.read_word(id, addr::PRESENT_POSITION).map_err(err(i))?, sign_bit::POSITION);
        let offset = present - 2047;
        let raw = sts::to_sign_magnitude(offset, sign_bit::HOMING_OFFSET).unwrap_or(0);
        write_checked(bus, id, &names[i], addr::HOMING_OFFSET, raw, "Homing_Offset").map_err(|e| e.or_bus(err(i)))?;
        offsets.push(offset);
    }
    // The sweep.
    let roll = names.len().checked_sub(2);
    let mut ranges: Vec<(String, i32, i32)> = names.iter().map(|n| (n.clone(), 2047, 2047)).collect();
    let mut last: Vec<Option<i32>> = vec![None; names.len()];
    operator.start_sweep("Now move every joint except the wrist roll through its whole travel; press Enter when done.");
    loop {
        let counts = bus.read_counts().map_err(CalibrateError::Sweep)?;
        for (i, &c) in counts.iter().enumerate() {
            if let Some(prev) = last[i]
                && Some(i) != roll
                && (c - prev).abs() > 2048
            {
                return Err(CalibrateError::Seam(names[i].clone(), prev, c));
            }
            last[i] = Some(c);
            ranges[i].1 = ranges[i].1.min(c);
            ranges[i].2 = ranges[i].2.max(c);
        }
        if !operator.sweeping(&ranges) {
            break;
        }
        sleep(SWEEP_PERIOD);
    }
    let mut motors = Vec::new();
    for (i, (name, lo, hi)) in ranges.into_iter().enumerate() {
        let (lo, hi) = if Some(i) == roll { (0, MAX_COUNT as i32) } else { (lo, hi) };
        if lo == hi {
            return Err(CalibrateError::NotMoved(name, lo));
        }
        let (lo, hi) = (lo.clamp(0, MAX_COUNT as i32) as u16, hi.clamp(0, MAX_COUNT as i32) as u16);
        let id = ids[i];
        write_checked(bus, id, &name, addr::MIN_POSITION_LIMIT, lo, "Min_Position_Limit")
            .map_err(|e| e.or_bus(err(i)))?;
        write_checked(bus, id, &name, addr::MAX_POSITION_LIMIT, hi, "Max_Position_Limit")
            .map_err(|e| e.or_bus(err(i)))?;
        bus.write_register(id, addr::LOCK, &[1]).map_err(err(i))?;
        motors.push((
            name,
            MotorCalibration {
                id,
                drive_mode: 0,
                homing_offset: offsets[i],
                range_min: lo,
                range_max: hi,
                travel: None,
            },
        ));
    }
    let calibration = Calibration { motors };
    bus.calibration = calibration.clone();
    Ok(calibration)
}

/// A write's failure: the bus, or a value that did not read back.
enum WriteError {
    Bus(BusFault),
    Verify(CalibrateError),
}

impl WriteError {
    fn or_bus(self, bus: impl FnOnce(BusFault) -> CalibrateError) -> CalibrateError {
        match self {
            WriteError::Bus(f) => bus(f),
            WriteError::Verify(e) => e,
        }
    }
}

fn write_checked<T: Transport>(
    bus: &mut FeetechBus<T>,
    id: u8,
    motor: &str,
    address: u8,
    value: u16,
    name: &'static str,
) -> Result<(), WriteError> {
    bus.write_register(id, address, &value.to_le_bytes()).map_err(WriteError::Bus)?;
    if bus.read_word(id, address).map_err(WriteError::Bus)? != value {
        return Err(WriteError::Verify(CalibrateError::Verify(id, motor.to_string(), name)));
    }
    Ok(())
}
