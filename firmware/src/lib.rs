//! regrasp-firmware: the arm controller's hardware-independent core.
//!
//! `#![no_std]` and allocation-free, so the same code runs on a microcontroller between the
//! serial link and the servo bus, on the host in tests, and in `regrasp hw emulate`. It trusts
//! nothing from the host: [`protocol`] frames are COBS-delimited with a CRC-16 and a protocol
//! version, every value is checked, and the [`controller`] enforces its own joint limits and
//! step per tick, a heartbeat watchdog (hold, then torque off), an e-stop latched until an
//! explicit clear after a fresh handshake, and overload/over-temperature faults. [`servo`]
//! is the seam to real servos (a [`servo::ServoBus`] trait and a mock); [`sts`] is the
//! Feetech STS serial-bus codec (the SO-101's servos).
//!
//! Units: rad for revolute joints, m for prismatic ones and the gripper, ms for time, °C for
//! temperatures, loads as a fraction of the servo's rated torque.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

pub mod cobs;
pub mod controller;
pub mod crc;
pub mod protocol;
pub mod servo;
pub mod sts;

pub use controller::{Controller, ControllerConfig, Mode};
pub use protocol::{DecodeError, FrameDecoder, JointLimit, MAX_JOINTS, Message};
pub use servo::{ServoBus, ServoReading};
