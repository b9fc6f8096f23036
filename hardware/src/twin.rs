//! The sim twin: the rapier simulation of the arm and the object standing in for the physical
//! arm behind the firmware's servo bus. The emulated firmware writes servo targets to a
//! [`TwinBus`]; every control period of simulated time (50 ms by default) the twin runs the
//! same physics as training towards the latest targets, and the servo readings are the
//! simulated joints. Nothing is faked: a grasp holds only by contact and friction, and the
//! episode's outcome is judged by the simulator's own classifier.
//!
//! The twin's clock starts when the firmware first switches the torque on (the arm powering
//! up in its start pose); after that a torque-off leaves the joints limp under gravity.
//!
//! [`Twin`] is a cloneable handle: the emulator owns one bus, the "operator" (a test, or
//! `regrasp hw emulate`) places objects and reads the truth through another.

use std::sync::{Arc, Mutex, MutexGuard};

use nalgebra::Isometry3;
use regrasp_firmware::protocol::JointLimit;
use regrasp_firmware::servo::{BusError, ServoBus, ServoReading};
use regrasp_sim::{ArmModel, EnvConfig, EpisodeSafety, GraspEnv, Outcome, Scenario};

use crate::error::{HardwareError, Result};

/// Servo temperature the twin reports (°C): the twin has no thermal model.
pub const TWIN_TEMPERATURE_C: f32 = 35.0;

/// What the twin knows and the host does not (for tests, pre-flight comparisons and the
/// emulator's report).
#[derive(Clone, Debug, PartialEq)]
pub struct TwinTruth {
    /// Object pose (m, world).
    pub object: Isometry3<f64>,
    /// Left / right finger touches the object.
    pub finger_contact: [bool; 2],
    /// Arm joint positions (rad or m).
    pub q: Vec<f64>,
    /// Gripper opening (m).
    pub gripper_opening: f64,
    /// The outcome, once the simulator's classifier decided it.
    pub outcome: Option<Outcome>,
    /// Safety figures of the episode so far.
    pub safety: EpisodeSafety,
    /// Simulated control steps since the object was placed.
    pub steps: u64,
}

struct State {
    env: GraspEnv,
    /// Simulated time not yet stepped (s).
    pending_s: f64,
    /// Latest servo targets: arm joints (rad or m) and gripper opening (m).
    targets: Vec<f64>,
    gripper: f64,
    torque: bool,
    /// Simulated time starts when the firmware first switches the torque on (power-up).
    powered: bool,
    steps: u64,
    error: Option<String>,
}

/// A simulation error of the twin, as the hardware path reports it.
fn sim_error(e: regrasp_sim::SimError) -> HardwareError {
    HardwareError::Config(format!("sim twin: {e}"))
}

/// A handle on the sim twin.
#[derive(Clone)]
pub struct Twin {
    state: Arc<Mutex<State>>,
    arm: Arc<ArmModel>,
}

impl Twin {
    /// A twin with `scenario` placed and the arm at the scenario's start pose. The twin steps
    /// once per firmware tick of `tick_s` (s): its control rate is the tick rate and its
    /// physics rate the next whole multiple of it at or above `cfg`'s (250 Hz for 50 Hz ticks
    /// and 240 Hz physics); contacts, motors and the outcome thresholds are `cfg`'s.
    pub fn new(arm: Arc<ArmModel>, cfg: &EnvConfig, scenario: &Scenario, tick_s: f64) -> Result<Self> {
        if !(tick_s > 0.0 && tick_s <= 1.0) {
            return Err(HardwareError::Config(format!("sim twin: tick of {tick_s} s is not in (0, 1] s")));
        }
        let control_hz = 1.0 / tick_s;
        let twin_cfg =
            EnvConfig { control_hz, physics_hz: control_hz * (cfg.physics_hz / control_hz).ceil(), ..cfg.clone() };
        let mut env = GraspEnv::new(Arc::clone(&arm), Arc::new(twin_cfg)).map_err(sim_error)?;
        env.reset(scenario).map_err(sim_error)?;
        let q = env.privileged().map(|p| p.q).unwrap_or_default();
        let gripper = env.privileged().map_or(0.0, |p| p.gripper_opening);
        let state =
            State { env, pending_s: 0.0, targets: q, gripper, torque: false, powered: false, steps: 0, error: None };
        Ok(Self { state: Arc::new(Mutex::new(state)), arm })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the twin half-updated: every update is one call.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The operator places a new object (`scenario`'s object and perturbations) in front of
    /// the arm, which stays where it is; the outcome is judged afresh from now.
    pub fn place(&self, scenario: &Scenario) -> Result<()> {
        let mut s = self.lock();
        let q = s.env.world().map(|w| w.arm_positions()).unwrap_or_default();
        s.env.reset_at(scenario, q).map_err(sim_error)?;
        s.steps = 0;
        Ok(())
    }

    /// The operator takes the last trial's object away (off the table, or out of the gripper)
    /// before the arm homes for the next trial, as a person at a physical arm clears the table;
    /// the arm stays where it is and the outcome decided so far stands.
    pub fn clear(&self) -> Result<()> {
        self.lock().env.take_object_away().map_err(sim_error)
    }

    /// Puts the arm back at `scenario`'s start pose, at rest, with its object placed, as the
    /// simulator's own reset does (the pre-flight's start). A physical arm cannot be put
    /// anywhere; only the lockstep harness ([`crate::lockstep`]) uses this, to measure what
    /// the homed start of the hardware path changes. The servos hold the new pose.
    pub fn reset(&self, scenario: &Scenario) -> Result<()> {
        let mut s = self.lock();
        s.env.reset(scenario).map_err(sim_error)?;
        if let Some(p) = s.env.privileged() {
            s.gripper = self.arm.gripper.servo_reading(&p.gripper_positions);
            s.targets = p.q;
        }
        s.steps = 0;
        s.pending_s = 0.0;
        Ok(())
    }

    /// The twin's ground truth now.
    pub fn truth(&self) -> Option<TwinTruth> {
        let s = self.lock();
        let p = s.env.privileged()?;
        Some(TwinTruth {
            object: p.object,
            finger_contact: p.finger_contact,
            q: p.q,
            gripper_opening: p.gripper_opening,
            outcome: s.env.outcome().cloned(),
            safety: s.env.safety().unwrap_or_default(),
            steps: s.steps,
        })
    }

    /// The first simulation error, if the twin could not step (a non-finite target).
    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    /// A servo bus driving this twin.
    pub fn bus(&self) -> TwinBus {
        TwinBus { twin: self.clone() }
    }

    /// The firmware's joint limits for this arm at a tick of `period_s` (s): the URDF limits,
    /// and a step per tick of the URDF velocity limit.
    pub fn joint_limits(arm: &ArmModel, period_s: f64) -> Vec<JointLimit> {
        arm.arm_joints
            .iter()
            .map(|j| JointLimit { min: j.lower as f32, max: j.upper as f32, max_step: (j.velocity * period_s) as f32 })
            .collect()
    }

    /// The firmware's gripper limit for this arm (servo units: m of opening or rad of jaw):
    /// the gripper joints' range, at their URDF speed.
    pub fn gripper_limit(arm: &ArmModel, period_s: f64) -> JointLimit {
        let (min, max) = arm.gripper.servo_range();
        JointLimit { min: min as f32, max: max as f32, max_step: (arm.gripper.servo_speed() * period_s) as f32 }
    }

    /// The arm.
    pub fn arm(&self) -> &Arc<ArmModel> {
        &self.arm
    }
}

/// An ideal tracking camera on the twin's object (emulation only): what a camera or motion
/// capture system would report, without noise or delay.
pub struct TwinCamera(pub Twin);

impl crate::session::ObjectSensor for TwinCamera {
    fn object_pose(&mut self, _tool: &Isometry3<f64>, _touching: bool, _opening: f64) -> Isometry3<f64> {
        let s = self.0.lock();
        s.env.world().map(|w| w.object_pose()).unwrap_or_else(Isometry3::identity)
    }
}

/// The firmware's servo bus, connected to the twin's joint motors.
pub struct TwinBus {
    twin: Twin,
}

impl TwinBus {
    /// Advances the simulation by `dt_s` of time (s): whole control steps of the sim config
    /// towards the latest targets (or limp, with the torque off).
    pub fn advance(&mut self, dt_s: f64) {
        let mut s = self.twin.lock();
        if !s.powered {
            return;
        }
        s.pending_s += dt_s;
        let step = s.env.config().control_dt();
        while s.pending_s >= step - 1e-9 {
            s.pending_s -= step;
            let (q, jaw, torque) = (s.targets.clone(), self.twin.arm.gripper.jaw_from_servo(s.gripper), s.torque);
            match s.env.step_targets(&q, jaw, torque) {
                Ok(_) => s.steps += 1,
                Err(e) => {
                    if s.error.is_none() {
                        s.error = Some(e.to_string());
                    }
                    break;
                }
            }
        }
    }
}

impl ServoBus for TwinBus {
    fn joints(&self) -> usize {
        self.twin.arm.dof()
    }

    fn read(&mut self, joints: &mut [ServoReading], gripper: &mut ServoReading) -> core::result::Result<(), BusError> {
        let s = self.twin.lock();
        let Some(p) = s.env.privileged() else { return Err(BusError) };
        let arm = &self.twin.arm;
        let cfg = s.env.config();
        let qd = s.env.world().map(|w| w.arm_velocities()).unwrap_or_default();
        for (i, r) in joints.iter_mut().enumerate().take(arm.dof()) {
            // A PD motor saturates at its effort limit for errors above arm_saturation_error.
            let load = if s.torque { (s.targets[i] - p.q[i]).abs() / cfg.motors.arm_saturation_error } else { 0.0 };
            *r = ServoReading {
                position: p.q[i] as f32,
                velocity: qd.get(i).copied().unwrap_or(0.0) as f32,
                load: load.min(1.0) as f32,
                temperature: TWIN_TEMPERATURE_C,
                error: 0,
            };
        }
        // The load is the grip force per pad over one pad's force at full effort.
        let rated =
            arm.gripper.full_grip_force(s.env.scenario().map_or(1.0, |sc| sc.physics.gripper_force_scale)) / 2.0;
        *gripper = ServoReading {
            position: arm.gripper.servo_reading(&p.gripper_positions) as f32,
            velocity: 0.0,
            load: if s.torque { (p.grip_force / rated.max(1e-9)).min(1.0) as f32 } else { 0.0 },
            temperature: TWIN_TEMPERATURE_C,
            error: 0,
        };
        Ok(())
    }

    fn write_targets(&mut self, joints: &[f32], gripper: f32) -> core::result::Result<(), BusError> {
        let mut s = self.twin.lock();
        let n = self.twin.arm.dof();
        if joints.len() < n {
            return Err(BusError);
        }
        s.targets = joints[..n].iter().map(|v| *v as f64).collect();
        s.gripper = gripper as f64;
        Ok(())
    }

    fn set_torque(&mut self, on: bool) -> core::result::Result<(), BusError> {
        let mut s = self.twin.lock();
        if on && !s.torque {
            // Torque on holds the measured pose, as a servo does.
            if let Some(p) = s.env.privileged() {
                s.gripper = self.twin.arm.gripper.servo_reading(&p.gripper_positions);
                s.targets = p.q;
            }
        }
        s.torque = on;
        s.powered |= on;
        Ok(())
    }
}
