//! The `Arm` seam: read state, command joint targets and the gripper, stop. The serial bridge
//! implements it today; a direct servo-bus driver (Feetech STS, Dynamixel Protocol 2.0) is one
//! more implementation behind the same envelope. [`Guarded`] wraps any arm so that every
//! command passes the safety envelope first.

use crate::envelope::{SafetyEnvelope, Verdict, intervention_names};
use crate::error::Result;

/// What an arm reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArmState {
    /// Joint positions (rad or m).
    pub positions: Vec<f64>,
    /// Joint velocities (rad/s or m/s).
    pub velocities: Vec<f64>,
    /// Joint loads (fraction of rated torque).
    pub loads: Vec<f64>,
    /// Servo temperatures (°C).
    pub temperatures: Vec<f64>,
    /// Gripper opening (m).
    pub gripper: f64,
    /// Gripper load (fraction of rated).
    pub gripper_load: f64,
    /// Controller fault flags (`regrasp_firmware::protocol::fault`).
    pub faults: u16,
    /// Whether torque is on and the arm follows commands.
    pub armed: bool,
    /// When this state arrived (`None` if the arm does not say).
    pub received: Option<std::time::Instant>,
}

/// Joint targets for the arm and the gripper.
#[derive(Clone, Debug, PartialEq)]
pub struct JointCommand {
    /// Joint targets (rad or m), one per arm joint.
    pub positions: Vec<f64>,
    /// Gripper opening target (m).
    pub gripper: f64,
}

/// A robot arm.
pub trait Arm {
    /// Waits for the arm's next state report.
    fn read_state(&mut self) -> Result<ArmState>;
    /// The freshest state available now, without waiting for a new one (a control loop with
    /// its own clock calls this and checks `received` for staleness).
    fn latest_state(&mut self) -> Result<ArmState> {
        self.read_state()
    }
    /// Sends joint targets (already checked by whoever wraps it).
    fn command(&mut self, cmd: &JointCommand) -> Result<()>;
    /// Stops now: torque off or hold, latched by the arm's own controller.
    fn stop(&mut self) -> Result<()>;
}

/// An arm behind the safety envelope: nothing reaches it unchecked.
pub struct Guarded<A: Arm> {
    arm: A,
    envelope: SafetyEnvelope,
}

impl<A: Arm> Guarded<A> {
    /// Wraps `arm`; reads its state so that the first command starts from the measured pose.
    pub fn new(mut arm: A, mut envelope: SafetyEnvelope) -> Result<Self> {
        let s = arm.read_state()?;
        envelope.start_from(&s.positions, s.gripper)?;
        Ok(Self { arm, envelope })
    }

    /// After a reconnect or a stop, or before an episode: re-measure (the freshest state) and
    /// start the envelope from it; returns what was measured.
    pub fn restart(&mut self) -> Result<ArmState> {
        let s = self.arm.latest_state()?;
        self.envelope.start_from(&s.positions, s.gripper)?;
        Ok(s)
    }

    /// Checks `proposed` against the envelope and sends what passes, or stops the arm.
    pub fn command(&mut self, proposed: &JointCommand, gripper_load: f64) -> Result<Verdict> {
        let v = self.envelope.check(proposed, gripper_load);
        match &v.command {
            Some(c) => self.arm.command(c)?,
            None => {
                self.arm.stop()?;
                if v.interventions != 0 && self.envelope.config().response == crate::Response::Stop {
                    return Err(crate::HardwareError::EnvelopeStop(intervention_names(v.interventions).join(", ")));
                }
            }
        }
        Ok(v)
    }

    /// Stops the arm and forgets the reference pose.
    pub fn stop(&mut self) -> Result<()> {
        self.envelope.reset();
        self.arm.stop()
    }

    /// The wrapped arm.
    pub fn arm(&mut self) -> &mut A {
        &mut self.arm
    }

    /// The envelope (for its counters).
    pub fn envelope(&self) -> &SafetyEnvelope {
        &self.envelope
    }
}
