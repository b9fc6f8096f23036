//! The safety envelope between the policy and the wire. Every joint command passes through
//! [`SafetyEnvelope::check`], which guarantees, whatever it is given:
//! - only finite values leave it, for the arm's own joint count;
//! - joints stay inside their URDF limits shrunk by a margin;
//! - no joint moves faster than its velocity limit or changes speed faster than the
//!   acceleration limit — including the first command after a (re)connect, which starts from
//!   the *measured* pose at rest ([`SafetyEnvelope::start_from`]);
//! - the tool stays inside a workspace box and above the table by a clearance (forward
//!   kinematics of the arm model): a step that would leave is cut at the boundary;
//! - the gripper stays in its range, moves at a bounded speed, and does not squeeze further
//!   once its measured load exceeds the force limit.
//!
//! Each intervention is counted and reported. With [`Response::Stop`] any intervention stops
//! the arm instead of clamping. The workspace cut wins over the acceleration limit: stopping
//! at the boundary is safer than overshooting it.

use std::sync::Arc;

use nalgebra::Vector3;
use regrasp_sim::ArmModel;
use serde::{Deserialize, Serialize};

use crate::arm::JointCommand;

/// What to do on a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Bring the command inside the envelope and send it.
    Clamp,
    /// Stop the arm.
    Stop,
}

/// The envelope's limits (units in the names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvelopeConfig {
    /// Control period (s).
    pub period_s: f64,
    /// Joint limits are the URDF's shrunk by this (rad or m).
    pub joint_margin: f64,
    /// Joint speed limit as a fraction of the URDF velocity limit.
    pub velocity_scale: f64,
    /// Joint acceleration limit (rad/s² or m/s²).
    pub max_acceleration: f64,
    /// Lower corner of the tool's workspace box (m, world).
    pub workspace_min: [f64; 3],
    /// Upper corner of the tool's workspace box (m, world).
    pub workspace_max: [f64; 3],
    /// Lowest fingertip height above the table top (m). The fingertips lie the arm profile's
    /// `fingertip_offset` beyond the tool frame along its approach axis; keeping only the tool
    /// frame above the table would let the fingers be driven into it.
    pub table_clearance: f64,
    /// Gripper opening range (m).
    pub gripper_range: [f64; 2],
    /// Gripper opening speed limit (m/s).
    pub gripper_speed: f64,
    /// No further closing once the gripper's measured load exceeds this (fraction of rated).
    pub max_gripper_load: f64,
    /// Clamp or stop on a violation.
    pub response: Response,
}

impl Default for EnvelopeConfig {
    fn default() -> Self {
        Self {
            period_s: 0.02,
            joint_margin: 0.05,
            velocity_scale: 0.5,
            max_acceleration: 6.0,
            workspace_min: [-0.10, -0.40, 0.0],
            workspace_max: [0.45, 0.40, 0.45],
            table_clearance: 0.005,
            gripper_range: [0.0, 0.08],
            gripper_speed: 0.1,
            max_gripper_load: 0.8,
            response: Response::Clamp,
        }
    }
}

impl EnvelopeConfig {
    /// The envelope for running a policy on `arm` with a control loop of period `period_s` (s)
    /// and a policy acting every `policy_dt_s` (s): the widest motion the policy's own
    /// controller ever commands in training, so that trained behaviour passes unaltered and
    /// anything beyond it is clamped. Joints may move at their URDF velocity limits and reach
    /// them within one policy step (acceleration = the fastest joint's limit / `policy_dt_s`);
    /// limits shrink by 0.02 rad; the gripper servo has its joints' travel and speed (see
    /// `Gripper::servo_range`) and may squeeze up to its rated force.
    pub fn for_arm(arm: &ArmModel, period_s: f64, policy_dt_s: f64) -> Self {
        let (gripper_min, gripper_max) = arm.gripper.servo_range();
        let fastest = arm.arm_joints.iter().map(|j| j.velocity).fold(0.0, f64::max);
        Self {
            period_s,
            joint_margin: 0.02,
            velocity_scale: 1.0,
            max_acceleration: fastest / policy_dt_s,
            gripper_range: [gripper_min, gripper_max],
            gripper_speed: arm.gripper.servo_speed(),
            max_gripper_load: 1.0,
            // The simulation's controller keeps the fingertips this high; the envelope allows
            // every motion trained under it and nothing lower.
            table_clearance: regrasp_sim::EnvConfig::default().workspace.fingertip_clearance.max(0.0),
            ..Self::default()
        }
    }
}

/// Where the fingertips are (m, world) with the arm at `q`: `fingertip_offset` beyond the tool
/// frame along its approach axis (+Z of the tool frame).
pub fn fingertip_position(arm: &ArmModel, q: &[f64]) -> Vector3<f64> {
    (arm.chain.fk(q) * nalgebra::Point3::new(0.0, 0.0, arm.profile.fingertip_offset)).coords
}

/// Intervention flags.
pub mod intervention {
    /// No reference pose yet (not started, or after a stop): the command was refused.
    pub const NOT_STARTED: u32 = 1 << 0;
    /// A value was not finite, or the joint count was wrong.
    pub const NON_FINITE: u32 = 1 << 1;
    /// A joint target was outside its limits.
    pub const JOINT_LIMIT: u32 = 1 << 2;
    /// A joint would have moved too fast.
    pub const VELOCITY: u32 = 1 << 3;
    /// A joint would have accelerated too hard.
    pub const ACCELERATION: u32 = 1 << 4;
    /// The tool would have left the workspace box or come too close to the table.
    pub const WORKSPACE: u32 = 1 << 5;
    /// The gripper command was out of range or too fast.
    pub const GRIPPER: u32 = 1 << 6;
    /// The gripper would have squeezed harder than the force limit.
    pub const GRIPPER_FORCE: u32 = 1 << 7;
    /// Names, in bit order.
    pub const NAMES: [&str; 8] = [
        "not_started",
        "non_finite",
        "joint_limit",
        "velocity",
        "acceleration",
        "workspace",
        "gripper",
        "gripper_force",
    ];
}

/// What the envelope decided for one proposed command.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The command to send, or `None`: stop the arm.
    pub command: Option<JointCommand>,
    /// [`intervention`] flags raised.
    pub interventions: u32,
}

/// The envelope for one arm.
pub struct SafetyEnvelope {
    arm: Arc<ArmModel>,
    cfg: EnvelopeConfig,
    lower: Vec<f64>,
    upper: Vec<f64>,
    max_step: Vec<f64>,
    /// Last command sent and the step before it (rad or m per period); `None` until started.
    last: Option<(Vec<f64>, Vec<f64>, f64)>,
    /// Interventions per flag since creation.
    pub counts: [u64; 8],
}

impl SafetyEnvelope {
    /// An envelope for `arm`; refuses a config that makes no sense.
    pub fn new(arm: Arc<ArmModel>, cfg: EnvelopeConfig) -> crate::Result<Self> {
        let bad = |what: &str| Err(crate::HardwareError::Config(format!("envelope config: {what}")));
        if !(cfg.period_s > 0.0 && cfg.period_s.is_finite()) {
            return bad("period_s must be positive");
        }
        if !(cfg.velocity_scale > 0.0 && cfg.velocity_scale <= 1.0) {
            return bad("velocity_scale must be in (0, 1]");
        }
        if !(cfg.max_acceleration > 0.0 && cfg.max_acceleration.is_finite()) {
            return bad("max_acceleration must be positive");
        }
        if (0..3).any(|i| !(cfg.workspace_min[i] < cfg.workspace_max[i])) {
            return bad("workspace_min must be below workspace_max on every axis");
        }
        if !(cfg.gripper_range[0] < cfg.gripper_range[1]) || !(cfg.gripper_speed > 0.0) {
            return bad("gripper_range must be increasing and gripper_speed positive");
        }
        let (mut lower, mut upper, mut max_step) = (Vec::new(), Vec::new(), Vec::new());
        for j in &arm.arm_joints {
            let (lo, hi) = (j.lower + cfg.joint_margin, j.upper - cfg.joint_margin);
            if !(lo < hi) {
                return bad(&format!("joint_margin {} leaves no range for joint {}", cfg.joint_margin, j.name));
            }
            lower.push(lo);
            upper.push(hi);
            max_step.push(j.velocity * cfg.velocity_scale * cfg.period_s);
        }
        Ok(Self { arm, cfg, lower, upper, max_step, last: None, counts: [0; 8] })
    }

    /// The config.
    pub fn config(&self) -> &EnvelopeConfig {
        &self.cfg
    }

    /// The arm's joint count.
    pub fn dof(&self) -> usize {
        self.lower.len()
    }

    /// Resets the reference to the measured pose at rest (after connect, reconnect or stop):
    /// the next command can move at most one velocity-and-acceleration-limited step from it.
    /// A measured pose outside the limits is taken as it is (the arm is moved back in small
    /// steps); a non-finite one is refused.
    pub fn start_from(&mut self, measured: &[f64], gripper: f64) -> crate::Result<()> {
        if measured.len() != self.dof() || !measured.iter().all(|v| v.is_finite()) || !gripper.is_finite() {
            self.last = None;
            return Err(crate::HardwareError::Mismatch(format!(
                "measured pose {measured:?} / gripper {gripper} is not a finite {}-joint pose",
                self.dof()
            )));
        }
        self.last = Some((measured.to_vec(), vec![0.0; self.dof()], gripper));
        Ok(())
    }

    /// Forgets the reference: nothing passes until [`Self::start_from`] again.
    pub fn reset(&mut self) {
        self.last = None;
    }

    fn tool_position(&self, q: &[f64]) -> Vector3<f64> {
        self.arm.chain.fk(q).translation.vector
    }

    /// How far (m) the arm at `q` is outside the workspace (0 inside): the tool outside its
    /// box, plus the fingertips below the table clearance.
    fn violation(&self, q: &[f64]) -> f64 {
        let p = self.tool_position(q);
        let (lo, hi) = (self.cfg.workspace_min, self.cfg.workspace_max);
        let outside = (0..3).map(|i| (lo[i] - p[i]).max(0.0) + (p[i] - hi[i]).max(0.0)).sum::<f64>();
        let tips = fingertip_position(&self.arm, q);
        outside + (self.cfg.table_clearance - tips.z).max(0.0)
    }

    /// Checks one proposed command; `gripper_load` is the gripper's latest measured load
    /// (fraction of rated; NaN if unknown, which counts as over the limit).
    pub fn check(&mut self, proposed: &JointCommand, gripper_load: f64) -> Verdict {
        let mut flags = 0u32;
        let Some((prev, prev_dq, prev_g)) = self.last.clone() else {
            return self.verdict(None, intervention::NOT_STARTED);
        };
        let n = self.dof();
        let finite = proposed.positions.len() == n
            && proposed.positions.iter().all(|v| v.is_finite())
            && proposed.gripper.is_finite();
        // A non-finite proposal cannot be clamped to anything meaningful: hold the last pose.
        let (want, want_g) = if finite {
            (proposed.positions.clone(), proposed.gripper)
        } else {
            flags |= intervention::NON_FINITE;
            (prev.clone(), prev_g)
        };
        let mut q = vec![0.0; n];
        let mut dq = vec![0.0; n];
        let dt2 = self.cfg.period_s * self.cfg.period_s;
        for i in 0..n {
            let target = want[i].clamp(self.lower[i], self.upper[i]);
            if target != want[i] {
                flags |= intervention::JOINT_LIMIT;
            }
            let mut step = target - prev[i];
            let max_dv = self.cfg.max_acceleration * dt2;
            let accel = step - prev_dq[i];
            if accel.abs() > max_dv {
                flags |= intervention::ACCELERATION;
                step = prev_dq[i] + accel.clamp(-max_dv, max_dv);
            }
            if step.abs() > self.max_step[i] {
                flags |= intervention::VELOCITY;
                step = step.clamp(-self.max_step[i], self.max_step[i]);
            }
            // Braking may carry a joint past its limit: the limit wins.
            q[i] = (prev[i] + step).clamp(self.lower[i].min(prev[i]), self.upper[i].max(prev[i]));
            dq[i] = q[i] - prev[i];
        }
        // Workspace: cut the step where it would leave (or, from outside, only allow steps
        // that do not make the violation worse).
        let before = self.violation(&prev);
        let after = self.violation(&q);
        if after > 0.0 && after > before - 1e-12 {
            flags |= intervention::WORKSPACE;
            let point = |t: f64| -> Vec<f64> { prev.iter().zip(&q).map(|(a, b)| a + t * (b - a)).collect() };
            let ok = |t: f64| self.violation(&point(t)) <= before.max(0.0);
            let (mut lo, mut hi) = (0.0, 1.0);
            for _ in 0..20 {
                let mid = 0.5 * (lo + hi);
                if ok(mid) { lo = mid } else { hi = mid }
            }
            q = point(lo);
            for i in 0..n {
                dq[i] = q[i] - prev[i];
            }
        }
        // Gripper: range, speed, force.
        let g_max_step = self.cfg.gripper_speed * self.cfg.period_s;
        let mut g = want_g.clamp(self.cfg.gripper_range[0], self.cfg.gripper_range[1]);
        if g != want_g {
            flags |= intervention::GRIPPER;
        }
        if (g - prev_g).abs() > g_max_step {
            flags |= intervention::GRIPPER;
            g = prev_g + (g - prev_g).clamp(-g_max_step, g_max_step);
        }
        if g < prev_g && !(gripper_load.abs() <= self.cfg.max_gripper_load) {
            flags |= intervention::GRIPPER_FORCE;
            g = prev_g;
        }
        if self.cfg.response == Response::Stop && flags != 0 {
            return self.verdict(None, flags);
        }
        self.last = Some((q.clone(), dq, g));
        self.verdict(Some(JointCommand { positions: q, gripper: g }), flags)
    }

    fn verdict(&mut self, command: Option<JointCommand>, flags: u32) -> Verdict {
        for (i, c) in self.counts.iter_mut().enumerate() {
            if flags & (1 << i) != 0 {
                *c += 1;
            }
        }
        if command.is_none() {
            // After a stop the arm must be re-measured before it may move again.
            self.last = None;
        }
        Verdict { command, interventions: flags }
    }
}

/// Names of the flags set in `flags`.
pub fn intervention_names(flags: u32) -> Vec<&'static str> {
    intervention::NAMES.iter().enumerate().filter(|(i, _)| flags & (1 << i) != 0).map(|(_, n)| *n).collect()
}
