//! The seam to the servos: a [`ServoBus`] trait (serial-servo buses such as Feetech STS or
//! Dynamixel implement it on the microcontroller) and [`MockBus`], a first-order servo model
//! with fault injection for host tests and the emulator.

use crate::protocol::MAX_JOINTS;

/// One servo's reading.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ServoReading {
    /// Position (rad or m).
    pub position: f32,
    /// Velocity (rad/s or m/s).
    pub velocity: f32,
    /// Load (fraction of rated torque; 1.0 = rated).
    pub load: f32,
    /// Temperature (°C).
    pub temperature: f32,
    /// The servo's own error bits (a Feetech status byte: voltage, angle sensor, overheat,
    /// overcurrent, overload); 0 = none, and always 0 for servos that report none.
    pub error: u8,
}

/// A bus failure (timeout, checksum, no answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusError;

/// A servo bus: the arm joints, then the gripper as one more servo.
pub trait ServoBus {
    /// Arm joints on the bus (the gripper not counted).
    fn joints(&self) -> usize;
    /// Reads every arm joint into `joints[..self.joints()]` and the gripper into `gripper`.
    fn read(&mut self, joints: &mut [ServoReading], gripper: &mut ServoReading) -> Result<(), BusError>;
    /// Sends position targets (rad or m) to every arm joint and the gripper.
    fn write_targets(&mut self, joints: &[f32], gripper: f32) -> Result<(), BusError>;
    /// Switches every servo's torque on or off.
    fn set_torque(&mut self, on: bool) -> Result<(), BusError>;
}

/// A simulated bus: each servo moves towards its target at most `max_speed` per `tick`
/// (first order), load follows the tracking error, temperature is set directly. Faults can be
/// injected per servo. Everything is plain data, so tests can inspect it.
#[derive(Clone, Debug)]
pub struct MockBus {
    /// Arm joints.
    pub n: usize,
    /// Current positions (joints, then the gripper at index `n`).
    pub position: [f32; MAX_JOINTS + 1],
    /// Last targets written.
    pub target: [f32; MAX_JOINTS + 1],
    /// Every target ever written, per servo, is checked against this by tests: the largest
    /// jump between consecutive writes (rad or m).
    pub largest_jump: f32,
    /// Torque on.
    pub torque: bool,
    /// Largest change of position per tick (rad or m).
    pub max_speed: f32,
    /// Load per unit of tracking error (fraction of rated torque per rad or m).
    pub load_gain: f32,
    /// Temperatures (°C).
    pub temperature: [f32; MAX_JOINTS + 1],
    /// Servos that do not move (stalled): their load grows with the error.
    pub stalled: [bool; MAX_JOINTS + 1],
    /// Error bits each servo reports (as a Feetech status byte; 0 = none).
    pub error: [u8; MAX_JOINTS + 1],
    /// Extra load added to every servo (fraction of rated).
    pub extra_load: f32,
    /// Fail this many bus transactions from now.
    pub fail_next: u32,
    /// Targets written so far.
    pub writes: u64,
    last_written: Option<[f32; MAX_JOINTS + 1]>,
}

impl MockBus {
    /// `n` arm joints at `start` (rad or m), gripper at 0.
    pub fn new(n: usize, start: &[f32]) -> Self {
        let mut position = [0.0; MAX_JOINTS + 1];
        for (p, s) in position.iter_mut().zip(start.iter().take(n)) {
            *p = *s;
        }
        Self {
            n: n.min(MAX_JOINTS),
            position,
            target: position,
            largest_jump: 0.0,
            torque: false,
            max_speed: 0.05,
            load_gain: 2.0,
            temperature: [30.0; MAX_JOINTS + 1],
            stalled: [false; MAX_JOINTS + 1],
            error: [0; MAX_JOINTS + 1],
            extra_load: 0.0,
            fail_next: 0,
            writes: 0,
            last_written: None,
        }
    }

    /// Advances the servos by one tick.
    pub fn step(&mut self) {
        if !self.torque {
            return;
        }
        for i in 0..=self.n {
            if self.stalled[i] {
                continue;
            }
            let e = self.target[i] - self.position[i];
            self.position[i] += e.clamp(-self.max_speed, self.max_speed);
        }
    }

    fn fail(&mut self) -> Result<(), BusError> {
        if self.fail_next > 0 {
            self.fail_next -= 1;
            Err(BusError)
        } else {
            Ok(())
        }
    }
}

impl ServoBus for MockBus {
    fn joints(&self) -> usize {
        self.n
    }

    fn read(&mut self, joints: &mut [ServoReading], gripper: &mut ServoReading) -> Result<(), BusError> {
        self.fail()?;
        for i in 0..=self.n {
            let error = if self.torque { (self.target[i] - self.position[i]).abs() } else { 0.0 };
            let r = ServoReading {
                position: self.position[i],
                velocity: 0.0,
                load: self.load_gain * error + self.extra_load,
                temperature: self.temperature[i],
                error: self.error[i],
            };
            if i < self.n {
                if let Some(j) = joints.get_mut(i) {
                    *j = r;
                }
            } else {
                *gripper = r;
            }
        }
        Ok(())
    }

    fn write_targets(&mut self, joints: &[f32], gripper: f32) -> Result<(), BusError> {
        self.fail()?;
        let mut t = self.target;
        for (slot, v) in t.iter_mut().zip(joints.iter().take(self.n)) {
            *slot = *v;
        }
        t[self.n] = gripper;
        // The first write after power-up is measured against where the servos are.
        let from = self.last_written.unwrap_or(self.position);
        for (new, old) in t.iter().zip(from.iter()).take(self.n + 1) {
            self.largest_jump = self.largest_jump.max((new - old).abs());
        }
        self.last_written = Some(t);
        self.target = t;
        self.writes += 1;
        Ok(())
    }

    fn set_torque(&mut self, on: bool) -> Result<(), BusError> {
        self.fail()?;
        self.torque = on;
        if !on {
            // A servo without torque forgets its target; the next write is measured afresh.
            self.last_written = None;
            self.target = self.position;
        }
        Ok(())
    }
}
