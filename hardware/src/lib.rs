//! regrasp-hardware: everything between a validated policy and a physical arm.
//!
//! [`arm`] is the seam: one [`arm::Arm`] trait that the serial bridge and (later) direct
//! servo-bus drivers implement, and [`arm::Guarded`], which wraps any arm in the
//! [`envelope::SafetyEnvelope`] so that no command reaches it unchecked (the limiter-as-wrapper
//! pattern of OpenRR's `arci`). [`link`] speaks the firmware's wire protocol over a serial port;
//! [`emulator`] runs the firmware core behind a pseudo-terminal so all of it is tested over a
//! real serial link without an arm. [`rig`] assembles bridge, envelope and (when emulated)
//! emulator and sim twin in one place; [`session`] is the run loop; [`trial`] holds the use
//! cases — one episode of a certified policy and the validation protocol behind an
//! [`trial::Operator`] — and [`bench`] the control-loop benchmark. [`feetech`] drives an arm
//! whose servos sit on a Feetech bus with no controller board (the SO-101): the host runs the
//! firmware's controller core over the bus, and virtual servos stand in for the arm. Only a
//! `regrasp_curriculum::run::Certified` policy, which only the certificate rule produces, can
//! pilot an arm.

pub mod arm;
pub mod bench;
pub mod emulator;
pub mod envelope;
pub mod error;
pub mod feetech;
pub mod link;
pub mod lockstep;
pub mod rig;
pub mod session;
pub mod trial;
pub mod twin;

pub use arm::{Arm, ArmState, Guarded, JointCommand};
pub use envelope::{EnvelopeConfig, Response, SafetyEnvelope, Verdict};
pub use error::{HardwareError, Result};
