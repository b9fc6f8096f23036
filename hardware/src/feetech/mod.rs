//! Direct drive of a Feetech STS arm (the SO-101): the bus to its servos, their calibration in
//! LeRobot's format, and virtual servos that speak the real protocol for tests and the
//! emulator. The packet codec itself is `regrasp_firmware::sts`, shared with the firmware.

pub mod arm;
pub mod bus;
pub mod calibrate;
pub mod calibration;
pub mod port;
pub mod setup;
pub mod virtual_servo;

pub use arm::{
    FeetechArm, VirtualArm, calibrated_servos, core_limits, load_calibration, motor_names, start_virtual_arm,
    virtual_calibration,
};
pub use bus::{BusConfig, BusFault, FeetechBus, SerialTransport, Transport, VirtualLink};
pub use calibration::{Calibration, MotorCalibration};
pub use port::{VirtualBusPort, WireFaults};
pub use setup::{ServoCaps, SetupConfig, SetupError, SetupReport, setup};
pub use virtual_servo::{ScheduledFault, ServoFault, VirtualBus, VirtualServo};

use regrasp_firmware::controller::ControllerConfig;
use regrasp_firmware::protocol::JointLimit;

/// The controller core's settings for an arm on a Feetech bus: over-temperature at 60 °C (the
/// servos' own limit is 70 °C), a stall is a load above 95 % of the servo's duty, or an arm
/// joint more than 0.05 rad from its command, while it moves slower than 0.05 rad/s, for 0.5 s
/// (`ticks_per_second` ticks a second), the gripper's travel
/// `gripper` (its load unchecked: holding an object is a lasting full load, and setup caps the
/// gripper servo's torque and current itself); the rest as the firmware's defaults (hold after 100 ms without commands, torque
/// off after 500 ms, three bus failures in a row fault).
pub fn core_config(gripper: JointLimit, ticks_per_second: u32) -> ControllerConfig {
    ControllerConfig {
        max_load: 0.95,
        overload_ticks: (ticks_per_second / 2).max(1),
        stall_speed: 0.05,
        stall_error: 0.05,
        gripper_max_load: f32::INFINITY,
        max_temperature_c: 60.0,
        gripper,
        ..ControllerConfig::default()
    }
}
