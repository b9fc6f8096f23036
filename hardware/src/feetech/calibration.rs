//! A Feetech arm's calibration in LeRobot's file format, and the one mapping between servo
//! counts and joint radians.
//!
//! The file is LeRobot's (`draccus.dump(dict[str, MotorCalibration])`): one JSON object per
//! motor name with `id`, `drive_mode`, `homing_offset`, `range_min` and `range_max`, so a user
//! who calibrated with LeRobot reuses that file and a file written here loads in LeRobot. The
//! mapping is LeRobot's degrees mode in radians, `rad = (counts − mid) · 2π / 4095` with `mid`
//! the middle of the calibrated range: the SO-101 model's zero (`so101_new_calib.urdf`) is the
//! middle of each joint's range, so counts and the model's radians agree by construction.
//! Source: `real-arms.md` §3 (lerobot@7427f318 `motors_bus.py`, `so_follower.py`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{HardwareError, Result};

/// Counts per revolution of an STS3215 (12-bit magnetic encoder).
pub const COUNTS_PER_REV: u16 = 4096;

/// The largest count a single-turn position reads.
pub const MAX_COUNT: u16 = COUNTS_PER_REV - 1;

/// The largest homing offset (counts): sign-magnitude with the sign in bit 11.
pub const MAX_HOMING_OFFSET: i32 = 2047;

/// Radians per count in LeRobot's degrees mode (2π / 4095, not / 4096: LeRobot's scale).
pub const RAD_PER_COUNT: f64 = std::f64::consts::TAU / MAX_COUNT as f64;

/// One motor's calibration, field for field as LeRobot writes it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotorCalibration {
    /// Servo ID on the bus (1–253).
    pub id: u8,
    /// 0, or 1 for a servo mounted mirrored (LeRobot's SO code always writes 0).
    pub drive_mode: u8,
    /// The servo's Homing_Offset register (counts, ±2047): `present = actual − offset`.
    pub homing_offset: i32,
    /// The lowest position of the joint's travel (counts, 0–4095).
    pub range_min: u16,
    /// The highest position of the joint's travel (counts, 0–4095).
    pub range_max: u16,
    /// A joint whose range is its whole travel rather than angles about a middle (LeRobot's
    /// 0–100 gripper): `range_min` is this angle (rad), `range_max` that one, linearly between.
    /// Not in the file; set by [`Calibration::with_travel`].
    #[serde(skip)]
    pub travel: Option<(f64, f64)>,
}

impl MotorCalibration {
    /// The middle of the range (counts), the model's zero.
    pub fn mid(&self) -> f64 {
        (self.range_min as f64 + self.range_max as f64) / 2.0
    }

    /// Radians per count of this motor.
    fn scale(&self) -> f64 {
        match self.travel {
            Some((lo, hi)) => (hi - lo) / (self.range_max as f64 - self.range_min as f64),
            None => RAD_PER_COUNT,
        }
    }

    /// The angle (rad) at the middle of the range.
    fn mid_radians(&self) -> f64 {
        self.travel.map_or(0.0, |(lo, hi)| (lo + hi) / 2.0)
    }

    /// The joint angle (rad) at a present position of `counts`.
    pub fn radians(&self, counts: i32) -> f64 {
        self.mid_radians() + (counts as f64 - self.mid()) * self.scale()
    }

    /// The shaft position (counts, not clamped) at `rad`: where the servo is for a joint there.
    pub fn counts_unclamped(&self, rad: f64) -> f64 {
        self.mid() + (rad - self.mid_radians()) / self.scale()
    }

    /// The goal position (counts) for `rad`, always inside the calibrated range: a target beyond
    /// it, or not finite, is clamped (a NaN to the range's middle, which the layers above never
    /// let through).
    pub fn counts(&self, rad: f64) -> u16 {
        let raw = self.counts_unclamped(rad);
        let raw = if raw.is_nan() { self.mid() } else { raw };
        raw.round().clamp(self.range_min as f64, self.range_max as f64) as u16
    }

    /// The calibrated travel (rad): the angles of `range_min` and `range_max`.
    pub fn range_radians(&self) -> (f64, f64) {
        (self.radians(self.range_min as i32), self.radians(self.range_max as i32))
    }
}

/// An arm's calibration: its motors in the arm's order (arm joints, then the gripper).
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// Motor names and their calibration, in the arm's joint order.
    pub motors: Vec<(String, MotorCalibration)>,
}

impl Calibration {
    /// Parses LeRobot's JSON for an arm whose motors are `names` (its arm joints, then its
    /// gripper joint). Every motor must be there and no other; IDs distinct; every field in its
    /// range. `source` names the file in errors.
    pub fn parse(text: &str, source: &str, names: &[String]) -> Result<Self> {
        let err = |what: String| {
            HardwareError::Config(format!("calibration {source}: {what}; recalibrate with `regrasp hw calibrate`"))
        };
        let map: BTreeMap<String, MotorCalibration> =
            serde_json::from_str(text).map_err(|e| err(format!("not a LeRobot calibration file ({e})")))?;
        if let Some(unknown) = map.keys().find(|k| !names.contains(k)) {
            return Err(err(format!("motor `{unknown}` is not one of this arm's motors ({})", names.join(", "))));
        }
        let motors = names
            .iter()
            .map(|n| map.get(n).map(|m| (n.clone(), *m)).ok_or_else(|| err(format!("motor `{n}` is missing"))))
            .collect::<Result<Vec<_>>>()?;
        let c = Calibration { motors };
        c.validate().map_err(err)?;
        Ok(c)
    }

    /// Loads a calibration file (see [`Self::parse`]).
    pub fn load(path: &Path, names: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| HardwareError::Config(format!("calibration {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string(), names)
    }

    /// The file LeRobot reads (motor names in the arm's order, 4-space indentation).
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\n");
        for (i, (name, m)) in self.motors.iter().enumerate() {
            out += &format!(
                "    \"{name}\": {{\n        \"id\": {},\n        \"drive_mode\": {},\n        \"homing_offset\": {},\n        \"range_min\": {},\n        \"range_max\": {}\n    }}{}\n",
                m.id,
                m.drive_mode,
                m.homing_offset,
                m.range_min,
                m.range_max,
                if i + 1 < self.motors.len() { "," } else { "" }
            );
        }
        out + "}\n"
    }

    /// Writes [`Self::to_json`] to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json())
            .map_err(|e| HardwareError::Config(format!("calibration {}: {e}", path.display())))
    }

    /// This calibration with motor `name`'s range mapped linearly onto the joint travel
    /// `lower`..`upper` (rad) instead of angles about its middle: LeRobot calibrates the SO-101's
    /// gripper as 0 % (closed, `range_min`) to 100 % (open, `range_max`) of its sweep, and the
    /// model's jaw closes at its lower limit.
    pub fn with_travel(mut self, name: &str, lower: f64, upper: f64) -> Self {
        for (n, m) in &mut self.motors {
            if n == name {
                m.travel = Some((lower, upper));
            }
        }
        self
    }

    /// The motors' servo IDs, in order.
    pub fn ids(&self) -> Vec<u8> {
        self.motors.iter().map(|(_, m)| m.id).collect()
    }

    fn validate(&self) -> std::result::Result<(), String> {
        for (i, (name, m)) in self.motors.iter().enumerate() {
            if !(1..=253).contains(&m.id) {
                return Err(format!("motor `{name}`: id {} is not a servo ID (1–253)", m.id));
            }
            if let Some((other, _)) = self.motors[..i].iter().find(|(_, o)| o.id == m.id) {
                return Err(format!("motors `{other}` and `{name}` share id {}", m.id));
            }
            if m.drive_mode != 0 {
                return Err(format!(
                    "motor `{name}`: drive_mode {} (a mirrored servo); LeRobot's SO-101 code writes 0 and its \
                     degrees mode ignores it, so regrasp refuses to guess the direction",
                    m.drive_mode
                ));
            }
            if m.homing_offset.abs() > MAX_HOMING_OFFSET {
                return Err(format!(
                    "motor `{name}`: homing_offset {} is beyond ±{MAX_HOMING_OFFSET} (the register's sign-magnitude range)",
                    m.homing_offset
                ));
            }
            if m.range_max > MAX_COUNT || m.range_min >= m.range_max {
                return Err(format!(
                    "motor `{name}`: range {}..{} is not a travel within 0..{MAX_COUNT} (min must be below max)",
                    m.range_min, m.range_max
                ));
            }
        }
        Ok(())
    }
}
