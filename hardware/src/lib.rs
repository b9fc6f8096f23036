//! regrasp-hardware: everything between a validated policy and a physical arm.
//!
//! [`arm`] is the seam: one [`arm::Arm`] trait that the serial bridge and (later) direct
//! servo-bus drivers implement, and [`arm::Guarded`], which wraps any arm in the
//! [`envelope::SafetyEnvelope`] so that no command reaches it unchecked (the limiter-as-wrapper
//! pattern of OpenRR's `arci`). [`link`] speaks the firmware's wire protocol over a serial port;
//! [`emulator`] runs the firmware core behind a pseudo-terminal so all of it is tested over a
//! real serial link without an arm.

pub mod arm;
pub mod certificate;
pub mod emulator;
pub mod envelope;
pub mod error;
pub mod link;
pub mod session;
pub mod twin;

pub use arm::{Arm, ArmState, Guarded, JointCommand};
pub use envelope::{EnvelopeConfig, Response, SafetyEnvelope, Verdict};
pub use error::{HardwareError, Result};
