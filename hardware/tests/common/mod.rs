//! The SO-101 calibration the Feetech tests share: a LeRobot file of the kind
//! `lerobot-calibrate` writes, and virtual servos calibrated by it.

#![allow(dead_code)] // each test binary uses its part

use regrasp_hardware::feetech::{Calibration, VirtualBus, calibrated_servos};

/// The SO-101's motors in bus order.
pub const NAMES: [&str; 6] = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"];

/// [`NAMES`] as owned strings.
pub fn names() -> Vec<String> {
    NAMES.iter().map(|s| s.to_string()).collect()
}

/// A LeRobot calibration file for an SO-101 (values of the kind a real arm gets).
pub const LEROBOT_FILE: &str = r#"{
    "shoulder_pan": {"id": 1, "drive_mode": 0, "homing_offset": -1021, "range_min": 760, "range_max": 3310},
    "shoulder_lift": {"id": 2, "drive_mode": 0, "homing_offset": 1401, "range_min": 830, "range_max": 3180},
    "elbow_flex": {"id": 3, "drive_mode": 0, "homing_offset": -402, "range_min": 880, "range_max": 3080},
    "wrist_flex": {"id": 4, "drive_mode": 0, "homing_offset": 33, "range_min": 860, "range_max": 3200},
    "wrist_roll": {"id": 5, "drive_mode": 0, "homing_offset": -1700, "range_min": 0, "range_max": 4095},
    "gripper": {"id": 6, "drive_mode": 0, "homing_offset": 950, "range_min": 2030, "range_max": 3480}
}"#;

/// [`LEROBOT_FILE`] parsed.
pub fn calibration() -> Calibration {
    Calibration::parse(LEROBOT_FILE, "test", &names()).unwrap()
}

/// Six virtual servos calibrated as [`calibration`], each shaft at the middle of its range.
pub fn virtual_arm() -> VirtualBus {
    calibrated_servos(&calibration())
}
