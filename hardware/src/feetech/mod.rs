//! Direct drive of a Feetech STS arm (the SO-101): the bus to its servos, their calibration in
//! LeRobot's format, and virtual servos that speak the real protocol for tests and the
//! emulator. The packet codec itself is `regrasp_firmware::sts`, shared with the firmware.

pub mod bus;
pub mod calibration;
pub mod port;
pub mod setup;
pub mod virtual_servo;

pub use bus::{BusConfig, BusFault, FeetechBus, SerialTransport, Transport, VirtualLink};
pub use calibration::{Calibration, MotorCalibration};
pub use port::VirtualBusPort;
pub use setup::{ServoCaps, SetupConfig, SetupError, SetupReport, setup};
pub use virtual_servo::{ServoFault, VirtualBus, VirtualServo};
