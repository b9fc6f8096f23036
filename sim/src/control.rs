//! The arm-side controller and the observation, shared by the simulated env and the hardware
//! run loop so that a policy sees and commands a physical arm exactly as it did in training:
//! [`ToolController`] turns an action into rate-limited joint targets (tool target + IK), and
//! [`build_observation`] turns measured joints, the gripper and an object estimate into the
//! policy's input vector.

use nalgebra::{Isometry3, Matrix3, Translation3, UnitQuaternion, Vector3};

use crate::action::Action;
use crate::arm::ArmModel;
use crate::config::EnvConfig;
use crate::kinematics::{IkParams, top_down_rotation, wrap_angle};
use crate::observation::ObsLayout;
use crate::scenario::{Scenario, ShapeKind};

/// Joint targets for one control step.
#[derive(Clone, Debug, PartialEq)]
pub struct JointTargets {
    /// Arm joint targets (rad or m).
    pub q: Vec<f64>,
    /// Jaw target: each parallel finger's (m from the centre line) or the rotating jaw's (rad).
    pub gripper: f64,
    /// The first joint the IK solution pinned at its limit, if any.
    pub joint_at_limit: Option<usize>,
}

/// The controller state: the tool target and the last joint and finger commands.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolController {
    /// Last commanded arm joint positions (rad or m).
    pub q_cmd: Vec<f64>,
    /// Last commanded jaw target (m for each parallel finger, rad for a rotating jaw).
    pub gripper_cmd: f64,
    /// Tool target position (m, world).
    pub target_pos: Vector3<f64>,
    /// Tool target yaw (rad).
    pub target_yaw: f64,
}

impl ToolController {
    /// A controller holding the pose `q0` (rad or m) with the gripper open; the tool target is
    /// the tool at `q0`, with yaw `yaw` (rad).
    pub fn new(arm: &ArmModel, q0: Vec<f64>, yaw: f64) -> Self {
        let tool = arm.chain.fk(&q0);
        Self { q_cmd: q0, gripper_cmd: arm.gripper.open, target_pos: tool.translation.vector, target_yaw: yaw }
    }

    /// Plans one control step for an already clipped action, given the measured joints
    /// `q_meas` (rad or m): the tool target moves by the action's displacement, stays in the
    /// workspace, keeps the fingertips `fingertip_clearance` above the table, and never more
    /// than `max_target_lead` ahead of the measured tool; IK turns it
    /// into joint targets, rate-limited by the URDF velocity limits from the last command. The
    /// tool target is updated here; the commands are updated by [`Self::commit`].
    pub fn plan(&mut self, arm: &ArmModel, cfg: &EnvConfig, applied: &Action, q_meas: &[f64]) -> JointTargets {
        let tool_meas = arm.chain.fk(q_meas).translation.vector;
        let mut target = self.target_pos
            + Vector3::new(applied.translation[0] as f64, applied.translation[1] as f64, applied.translation[2] as f64);
        let ws = &cfg.workspace;
        for i in 0..3 {
            target[i] = target[i].clamp(ws.min[i], ws.max[i]);
        }
        // Never below the fingertip floor (and never above the box, should the floor exceed it).
        target[2] = target[2].max(ws.floor(arm.profile.fingertip_offset)).min(ws.max[2]);
        let lead = target - tool_meas;
        if lead.norm() > cfg.action.max_target_lead {
            target = tool_meas + lead * (cfg.action.max_target_lead / lead.norm());
        }
        self.target_pos = target;
        self.target_yaw = wrap_angle(self.target_yaw + applied.yaw as f64);
        let goal = Isometry3::from_parts(Translation3::from(target), top_down_rotation(self.target_yaw));
        let sol = arm.chain.solve_ik(
            &goal,
            &self.q_cmd,
            &IkParams { max_iterations: cfg.ik_iterations, ..Default::default() },
        );
        let dt = cfg.control_dt();
        let q = self
            .q_cmd
            .iter()
            .zip(&sol.q)
            .zip(&arm.arm_joints)
            .map(|((&from, &to), spec)| from + (to - from).clamp(-spec.velocity * dt, spec.velocity * dt))
            .collect();
        let joint_at_limit = sol.at_limit.iter().position(|&b| b);
        let jaw_goal = arm.gripper.jaw_goal(applied.gripper as f64);
        let jaw_rate = arm.gripper.velocity() * dt;
        let gripper = self.gripper_cmd + (jaw_goal - self.gripper_cmd).clamp(-jaw_rate, jaw_rate);
        JointTargets { q, gripper, joint_at_limit }
    }

    /// Records `t` as the last command (after it was sent or simulated).
    pub fn commit(&mut self, t: &JointTargets) {
        self.q_cmd.clone_from(&t.q);
        self.gripper_cmd = t.gripper;
    }
}

/// What the observation is built from.
#[derive(Clone, Debug)]
pub struct ObsInputs<'a> {
    /// Measured arm joint positions, noise included (rad or m).
    pub q: &'a [f64],
    /// Measured arm joint velocities (rad/s or m/s).
    pub qd: &'a [f64],
    /// Gripper opening: the distance between the pads (m).
    pub gripper_opening: f64,
    /// Object pose (m, world): the simulation's truth, or an estimate on hardware.
    pub object: Isometry3<f64>,
    /// Noise added to the object's position in the tool frame (m).
    pub object_noise: [f64; 3],
    /// The scenario (the object's shape and size).
    pub scenario: &'a Scenario,
    /// The first / second pad (left / right finger, or fixed / moving jaw) touches the object.
    pub finger_contact: [bool; 2],
    /// The previous action, normalised to [−1, 1].
    pub prev_action: [f32; 5],
}

/// Builds the observation (layout in [`crate::observation`]); non-finite entries become 0.
pub fn build_observation(layout: ObsLayout, arm: &ArmModel, i: &ObsInputs) -> Vec<f32> {
    let l = layout;
    let mut o = vec![0.0f32; l.len()];
    let tool = arm.chain.fk(i.q);
    let rel = tool.inverse() * i.object;
    let put = |o: &mut [f32], at: usize, vals: &[f64]| {
        for (k, v) in vals.iter().enumerate() {
            o[at + k] = if v.is_finite() { *v as f32 } else { 0.0 };
        }
    };
    put(&mut o, l.joint_pos(), i.q);
    put(&mut o, l.joint_vel(), i.qd);
    put(&mut o, l.gripper(), &[i.gripper_opening]);
    put(&mut o, l.tool_pos(), tool.translation.vector.as_slice());
    put(&mut o, l.tool_rot(), &rot_columns(&tool.rotation));
    let rp = rel.translation.vector;
    let n = i.object_noise;
    put(&mut o, l.object_pos(), &[rp.x + n[0], rp.y + n[1], rp.z + n[2]]);
    put(&mut o, l.object_rot(), &rot_columns(&rel.rotation));
    put(&mut o, l.object_size(), &i.scenario.object.shape.extents());
    let kind = i.scenario.object.shape.kind();
    for (k, s) in ShapeKind::ALL.iter().enumerate() {
        o[l.shape() + k] = if *s == kind { 1.0 } else { 0.0 };
    }
    o[l.contacts()] = i.finger_contact[0] as u8 as f32;
    o[l.contacts() + 1] = i.finger_contact[1] as u8 as f32;
    o[l.prev_action()..l.prev_action() + 5].copy_from_slice(&i.prev_action);
    o
}

fn rot_columns(r: &UnitQuaternion<f64>) -> [f64; 6] {
    let m: Matrix3<f64> = r.to_rotation_matrix().into_inner();
    [m[(0, 0)], m[(1, 0)], m[(2, 0)], m[(0, 1)], m[(1, 1)], m[(2, 1)]]
}
