//! The controller core: turns accepted commands into servo targets that never leave the joint
//! limits and never move more than one step per tick, and falls back to a safe state by itself.
//!
//! Safety rules, each enforced here whatever the host does:
//! - targets are clamped to the controller's own joint limits, and the commanded position
//!   moves towards them by at most `max_step` per tick, starting from the *measured* pose when
//!   torque comes on — so no command, first or otherwise, can make a servo jump;
//! - heartbeat watchdog: no valid command (targets or heartbeat) for `hold_after_ms` → hold the
//!   commanded pose; for `torque_off_after_ms` → torque off;
//! - targets carry a validity deadline; once it passes the arm holds;
//! - e-stop: torque off at once, latched; cleared only by `ClearFault` after a fresh `Hello`;
//! - overload (for `overload_ticks` ticks in a row: a stall), over-temperature, a servo's own
//!   error bits or repeated bus failures → fault: torque off, latched likewise;
//! - limits can be changed only while disarmed.

use crate::protocol::{Frame, JointLimit, MAX_JOINTS, Message, ModeCode, Status, fault, limits_hash};
use crate::servo::{ServoBus, ServoReading};

/// Controller mode.
pub type Mode = ModeCode;

/// Settings of the controller (units in the names).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ControllerConfig {
    /// Firmware version reported in `Info`.
    pub firmware_version: u16,
    /// Hold after this long without a valid command (ms).
    pub hold_after_ms: u32,
    /// Torque off after this long without a valid command (ms).
    pub torque_off_after_ms: u32,
    /// Fault when any servo's load exceeds this (fraction of rated torque) ...
    pub max_load: f32,
    /// ... for this many ticks in a row (1 = at once; more tells a stall, a high load with a
    /// lasting position error, from a hard but brief acceleration) ...
    pub overload_ticks: u32,
    /// ... while the servo moves slower than this (rad/s or m/s; infinity = at any speed). A
    /// position servo moving fast is at full duty without being blocked; a blocked one does not
    /// move.
    pub stall_speed: f32,
    /// An arm joint more than this (rad or m) from its commanded position while moving slower
    /// than `stall_speed`, for `overload_ticks` ticks in a row, is stalled (infinity = never):
    /// a blocked joint whose servo is not pushed hard enough to overload. The gripper is not
    /// checked: closed on an object, it is short of its command by design.
    pub stall_error: f32,
    /// The gripper's load limit (fraction of rated torque), checked as `max_load` is. A closed
    /// gripper holding an object is a lasting load that is no fault: where the gripper servo
    /// protects itself (a Feetech servo's torque and current caps), infinity.
    pub gripper_max_load: f32,
    /// Fault when any servo's temperature exceeds this (°C).
    pub max_temperature_c: f32,
    /// Fault after this many bus failures in a row.
    pub bus_failures_to_fault: u32,
    /// The gripper's limits (m).
    pub gripper: JointLimit,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            firmware_version: 1,
            hold_after_ms: 100,
            torque_off_after_ms: 500,
            max_load: 1.5,
            overload_ticks: 1,
            stall_speed: f32::INFINITY,
            stall_error: f32::INFINITY,
            gripper_max_load: 1.5,
            max_temperature_c: 65.0,
            bus_failures_to_fault: 3,
            gripper: JointLimit { min: 0.0, max: 0.08, max_step: 0.004 },
        }
    }
}

/// Why a controller could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// The limits do not match the bus's joint count (or exceed [`MAX_JOINTS`]).
    JointCount,
    /// A limit is not finite, or `min >= max`, or `max_step <= 0`.
    InvalidLimit,
}

/// The controller: owns the bus.
pub struct Controller<B: ServoBus> {
    /// The servo bus (public so that tests and the emulator can drive the mock).
    pub bus: B,
    cfg: ControllerConfig,
    n: usize,
    limits: [JointLimit; MAX_JOINTS],
    mode: Mode,
    faults: u16,
    commanded: [f32; MAX_JOINTS],
    commanded_gripper: f32,
    target: [f32; MAX_JOINTS],
    target_gripper: f32,
    target_until_ms: u32,
    /// A target is in force (its deadline has not passed).
    target_live: bool,
    last_valid_ms: u32,
    handshake_since_latch: bool,
    last_seq: u16,
    readings: [ServoReading; MAX_JOINTS],
    gripper_reading: ServoReading,
    bus_failures: u32,
    /// Ticks in a row with a servo over `max_load`.
    overloaded_ticks: u32,
    /// Ticks in a row with an arm joint stalled (see `stall_error`).
    stalled_ticks: u32,
}

/// `v` within `l` (callers pass finite values only).
fn clamp(v: f32, l: &JointLimit) -> f32 {
    v.clamp(l.min, l.max)
}

/// `to` approached from `from` by at most `step`.
fn step_towards(from: f32, to: f32, step: f32) -> f32 {
    from + (to - from).clamp(-step, step)
}

/// Whether `now` is past `deadline` on a wrapping millisecond clock.
fn past(now: u32, deadline: u32) -> bool {
    (now.wrapping_sub(deadline) as i32) > 0
}

impl<B: ServoBus> Controller<B> {
    /// A disarmed controller with `limits` for the bus's joints.
    pub fn new(bus: B, limits: &[JointLimit], cfg: ControllerConfig) -> Result<Self, SetupError> {
        let n = bus.joints();
        if n != limits.len() || n > MAX_JOINTS {
            return Err(SetupError::JointCount);
        }
        if !limits.iter().all(JointLimit::is_valid) || !cfg.gripper.is_valid() {
            return Err(SetupError::InvalidLimit);
        }
        let mut l = [JointLimit { min: 0.0, max: 0.0, max_step: 0.0 }; MAX_JOINTS];
        l[..n].copy_from_slice(limits);
        Ok(Self {
            bus,
            cfg,
            n,
            limits: l,
            mode: Mode::Disarmed,
            faults: 0,
            commanded: [0.0; MAX_JOINTS],
            commanded_gripper: 0.0,
            target: [0.0; MAX_JOINTS],
            target_gripper: 0.0,
            target_until_ms: 0,
            target_live: false,
            last_valid_ms: 0,
            handshake_since_latch: false,
            last_seq: 0,
            readings: [ServoReading::default(); MAX_JOINTS],
            gripper_reading: ServoReading::default(),
            bus_failures: 0,
            overloaded_ticks: 0,
            stalled_ticks: 0,
        })
    }

    /// Current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The positions last sent to the arm joints (rad or m).
    pub fn commanded(&self) -> &[f32] {
        &self.commanded[..self.n]
    }

    /// The limits in force.
    pub fn limits(&self) -> &[JointLimit] {
        &self.limits[..self.n]
    }

    /// Fault flags accumulated since the last state report.
    pub fn faults(&self) -> u16 {
        self.faults
    }

    /// Notes a frame that failed to decode (reported as `BAD_FRAME`); it feeds nothing.
    pub fn bad_frame(&mut self) {
        self.faults |= fault::BAD_FRAME;
    }

    /// Torque off and a latched mode; the commanded pose follows the servos from now on.
    fn safe_stop(&mut self, mode: Mode, flag: u16) {
        let _ = self.bus.set_torque(false);
        self.mode = mode;
        self.faults |= flag;
        if matches!(mode, Mode::EStopped | Mode::Faulted) {
            self.handshake_since_latch = false;
        }
    }

    fn read_bus(&mut self) -> bool {
        let mut joints = [ServoReading::default(); MAX_JOINTS];
        let mut gripper = ServoReading::default();
        match self.bus.read(&mut joints[..self.n], &mut gripper) {
            Ok(()) => {
                self.readings = joints;
                self.gripper_reading = gripper;
                self.bus_failures = 0;
                true
            }
            Err(_) => {
                self.bus_failures += 1;
                if self.bus_failures >= self.cfg.bus_failures_to_fault && self.mode != Mode::EStopped {
                    self.safe_stop(Mode::Faulted, fault::BUS);
                }
                false
            }
        }
    }

    fn ack(&mut self, seq: u16, status: Status) -> Message {
        if status == Status::Ok {
            self.last_seq = seq;
        }
        Message::Ack { seq, status }
    }

    /// Handles one decoded frame at `now_ms`; returns the reply to send.
    pub fn handle(&mut self, frame: &Frame, now_ms: u32) -> Message {
        let seq = frame.seq;
        match frame.message {
            Message::Hello { nonce } => {
                self.handshake_since_latch = true;
                Message::Info {
                    nonce,
                    firmware_version: self.cfg.firmware_version,
                    joints: self.n as u8,
                    limits_hash: limits_hash(self.limits()),
                }
            }
            Message::Heartbeat => {
                if matches!(self.mode, Mode::Armed | Mode::Holding) {
                    self.last_valid_ms = now_ms;
                }
                self.ack(seq, Status::Ok)
            }
            Message::SetTargets { joints, positions, gripper, valid_for_ms } => {
                if !matches!(self.mode, Mode::Armed | Mode::Holding) {
                    return self.ack(seq, Status::WrongMode);
                }
                if joints as usize != self.n {
                    return self.ack(seq, Status::WrongJointCount);
                }
                if valid_for_ms == 0 || !gripper.is_finite() || !positions[..self.n].iter().all(|p| p.is_finite()) {
                    self.faults |= fault::BAD_FRAME;
                    return self.ack(seq, Status::InvalidValue);
                }
                let slots = self.target.iter_mut().zip(&self.limits).zip(&positions[..self.n]);
                for ((target, limit), &p) in slots {
                    let c = clamp(p, limit);
                    if c != p {
                        self.faults |= fault::CLAMPED;
                    }
                    *target = c;
                }
                let g = clamp(gripper, &self.cfg.gripper);
                if g != gripper {
                    self.faults |= fault::CLAMPED;
                }
                self.target_gripper = g;
                self.target_until_ms = now_ms.wrapping_add(valid_for_ms as u32);
                self.target_live = true;
                self.last_valid_ms = now_ms;
                self.mode = Mode::Armed;
                self.ack(seq, Status::Ok)
            }
            Message::EStop => {
                self.safe_stop(Mode::EStopped, fault::ESTOP);
                self.ack(seq, Status::Ok)
            }
            Message::ClearFault => match self.mode {
                Mode::EStopped | Mode::Faulted if !self.handshake_since_latch => self.ack(seq, Status::NeedsHandshake),
                Mode::EStopped | Mode::Faulted => {
                    self.mode = Mode::Disarmed;
                    self.faults = 0;
                    self.ack(seq, Status::Ok)
                }
                _ => {
                    if self.mode == Mode::Disarmed {
                        self.faults = 0;
                    }
                    self.ack(seq, Status::Ok)
                }
            },
            Message::Arm => {
                // From disarmed, or from a watchdog hold (a host that lost the link and came
                // back): start again from the measured pose. Armed already: nothing to do.
                // Latched states (e-stop, fault) need ClearFault first.
                if !matches!(self.mode, Mode::Disarmed | Mode::Holding) {
                    return self.ack(seq, if self.mode == Mode::Armed { Status::Ok } else { Status::WrongMode });
                }
                if !self.read_bus() {
                    return self.ack(seq, Status::BusError);
                }
                // Start from where the servos are: the first step can only be a small one.
                for i in 0..self.n {
                    let p = self.readings[i].position;
                    self.commanded[i] = if p.is_finite() {
                        clamp(p, &self.limits[i])
                    } else {
                        self.limits[i].min.max(0.0).min(self.limits[i].max)
                    };
                    self.target[i] = self.commanded[i];
                }
                let g = self.gripper_reading.position;
                self.commanded_gripper = if g.is_finite() { clamp(g, &self.cfg.gripper) } else { self.cfg.gripper.min };
                self.target_gripper = self.commanded_gripper;
                self.target_live = false;
                if self.bus.write_targets(&self.commanded[..self.n], self.commanded_gripper).is_err()
                    || self.bus.set_torque(true).is_err()
                {
                    let _ = self.bus.set_torque(false);
                    return self.ack(seq, Status::BusError);
                }
                self.mode = Mode::Armed;
                self.faults &= !(fault::WATCHDOG_HOLD | fault::WATCHDOG_TORQUE_OFF);
                self.last_valid_ms = now_ms;
                self.ack(seq, Status::Ok)
            }
            Message::Disarm => {
                let _ = self.bus.set_torque(false);
                if matches!(self.mode, Mode::Armed | Mode::Holding) {
                    self.mode = Mode::Disarmed;
                }
                self.ack(seq, Status::Ok)
            }
            Message::SetLimits { joints, limits } => {
                if self.mode != Mode::Disarmed {
                    return self.ack(seq, Status::WrongMode);
                }
                if joints as usize != self.n {
                    return self.ack(seq, Status::WrongJointCount);
                }
                if !limits[..self.n].iter().all(JointLimit::is_valid) {
                    return self.ack(seq, Status::InvalidValue);
                }
                self.limits[..self.n].copy_from_slice(&limits[..self.n]);
                self.ack(seq, Status::Ok)
            }
            Message::Info { .. } | Message::State { .. } | Message::Ack { .. } => {
                self.faults |= fault::BAD_FRAME;
                self.ack(seq, Status::InvalidValue)
            }
        }
    }

    /// One control tick at `now_ms`: read the servos, check faults and the watchdog, step the
    /// commanded pose towards the target, write it; returns the state report.
    pub fn tick(&mut self, now_ms: u32) -> Message {
        let read = self.read_bus();
        if read && matches!(self.mode, Mode::Armed | Mode::Holding) {
            let limits =
                core::iter::repeat_n(self.cfg.max_load, self.n).chain(core::iter::once(self.cfg.gripper_max_load));
            let servos = self.readings[..self.n].iter().chain(core::iter::once(&self.gripper_reading));
            let (mut loaded, mut overtemp, mut servo_error) = (false, false, false);
            for (r, max_load) in servos.zip(limits) {
                loaded |= !(r.load.abs() <= max_load) && !(r.velocity.abs() >= self.cfg.stall_speed);
                overtemp |= !(r.temperature <= self.cfg.max_temperature_c);
                servo_error |= r.error != 0;
            }
            self.overloaded_ticks = if loaded { self.overloaded_ticks.saturating_add(1) } else { 0 };
            let overload = self.overloaded_ticks >= self.cfg.overload_ticks.max(1);
            let blocked = self.cfg.stall_error.is_finite()
                && (0..self.n).any(|i| {
                    let r = &self.readings[i];
                    !((self.commanded[i] - r.position).abs() <= self.cfg.stall_error)
                        && !(r.velocity.abs() >= self.cfg.stall_speed)
                });
            self.stalled_ticks = if blocked { self.stalled_ticks.saturating_add(1) } else { 0 };
            let stall = self.stalled_ticks >= self.cfg.overload_ticks.max(1);
            if overload || overtemp || servo_error || stall {
                let flag = if overload { fault::OVERLOAD } else { 0 }
                    | if overtemp { fault::OVERTEMP } else { 0 }
                    | if servo_error { fault::SERVO_ERROR } else { 0 }
                    | if stall { fault::STALL } else { 0 };
                self.safe_stop(Mode::Faulted, flag);
            }
        }
        if matches!(self.mode, Mode::Armed | Mode::Holding) {
            let silent = now_ms.wrapping_sub(self.last_valid_ms);
            if silent > self.cfg.torque_off_after_ms {
                self.safe_stop(Mode::Disarmed, fault::WATCHDOG_TORQUE_OFF);
            } else {
                if silent > self.cfg.hold_after_ms && self.mode == Mode::Armed {
                    self.mode = Mode::Holding;
                    self.faults |= fault::WATCHDOG_HOLD;
                }
                if self.target_live && past(now_ms, self.target_until_ms) {
                    self.target_live = false;
                    self.faults |= fault::STALE_TARGETS;
                }
                if self.mode == Mode::Holding || !self.target_live {
                    // Hold: the target becomes where the command already is.
                    self.target = self.commanded;
                    self.target_gripper = self.commanded_gripper;
                }
                for i in 0..self.n {
                    let l = &self.limits[i];
                    self.commanded[i] = clamp(step_towards(self.commanded[i], self.target[i], l.max_step), l);
                }
                let g = &self.cfg.gripper;
                self.commanded_gripper =
                    clamp(step_towards(self.commanded_gripper, self.target_gripper, g.max_step), g);
                if self.bus.write_targets(&self.commanded[..self.n], self.commanded_gripper).is_err() {
                    self.bus_failures += 1;
                    if self.bus_failures >= self.cfg.bus_failures_to_fault {
                        self.safe_stop(Mode::Faulted, fault::BUS);
                    }
                }
            }
        }
        let mut positions = [0.0; MAX_JOINTS];
        let mut velocities = [0.0; MAX_JOINTS];
        let mut loads = [0.0; MAX_JOINTS];
        let mut temperatures = [0.0; MAX_JOINTS];
        for i in 0..self.n {
            positions[i] = self.readings[i].position;
            velocities[i] = self.readings[i].velocity;
            loads[i] = self.readings[i].load;
            temperatures[i] = self.readings[i].temperature;
        }
        let report = Message::State {
            joints: self.n as u8,
            positions,
            velocities,
            loads,
            temperatures,
            gripper: self.gripper_reading.position,
            gripper_load: self.gripper_reading.load,
            time_ms: now_ms,
            faults: self.faults,
            mode: self.mode,
            last_seq: self.last_seq,
        };
        // Events are reported once; latched conditions stay.
        self.faults &= fault::LATCHING;
        report
    }
}
