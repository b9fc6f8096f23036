//! The scripted grasp: a privileged controller that reads the true object pose and runs
//! approach → descend → close → lift with the same actions a policy would emit. It proves that
//! friction grasps work in this world and provides demonstrations.

use nalgebra::Vector3;

use crate::action::Action;
use crate::arm::ArmModel;
use crate::config::ActionLimits;
use crate::env::Privileged;
use crate::kinematics::wrap_angle;
use crate::scenario::{Scenario, Shape};
use crate::world::object_rest_rotation;

/// Phases of the scripted grasp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Move above the object with the gripper open.
    Approach,
    /// Descend to the grasp height.
    Descend,
    /// Close the gripper.
    Close,
    /// Lift and hold.
    Lift,
}

/// Controller settings (m, rad, control steps).
#[derive(Clone, Copy, Debug)]
pub struct ScriptedParams {
    /// Speed of the reference along its path, as a fraction of the action bound per step.
    pub speed: f64,
    /// Integral gain (per control step) that removes the servos' steady sag; low enough to stay
    /// stable under two control steps of action latency.
    pub integral_gain: f64,
    /// Largest integral correction (m).
    pub integral_limit: f64,
    /// Height of the pre-grasp pose above the grasp height (m).
    pub approach_height: f64,
    /// Height of the lift above the grasp height (m).
    pub lift_height: f64,
    /// Horizontal tolerance of the measured tool to end the approach and descent (m).
    pub xy_tolerance: f64,
    /// Steps to keep closing after both fingers touch.
    pub settle_steps: u32,
    /// Longest time in one phase before moving on anyway (control steps).
    pub phase_timeout: u32,
}

impl Default for ScriptedParams {
    fn default() -> Self {
        Self {
            speed: 0.9,
            integral_gain: 0.15,
            integral_limit: 0.01,
            approach_height: 0.06,
            lift_height: 0.12,
            xy_tolerance: 0.003,
            settle_steps: 4,
            phase_timeout: 60,
        }
    }
}

/// The scripted grasp controller (one episode at a time; call [`ScriptedGrasp::new`] per episode).
///
/// It moves a reference point towards each phase's goal at a bounded speed and commands the
/// reference's displacement, so the env's tool target follows the same path whatever the
/// action latency; a slow integral term on the measured tool error removes servo sag.
#[derive(Clone, Debug)]
pub struct ScriptedGrasp {
    params: ScriptedParams,
    phase: Phase,
    phase_steps: u32,
    grasp_yaw: f64,
    grasp_z: f64,
    hold_xy: Option<[f64; 2]>,
    touched_steps: u32,
    reference: Option<Vector3<f64>>,
    reference_yaw: f64,
    bias: Vector3<f64>,
    settled_steps: u32,
}

/// The tool yaw (rad) for a top-down grasp of the object in `scenario` whose current pose has
/// yaw rotation `object_rot`: fingers close across the narrowest horizontal extent that fits,
/// choosing among equivalent yaws the one nearest the arm's natural yaw at the object bearing.
pub fn grasp_yaw(scenario: &Scenario, object_rot: &nalgebra::UnitQuaternion<f64>, max_opening: f64) -> f64 {
    let p = &scenario.object.pose;
    let natural = p.y.atan2(p.x);
    let (rest, _) = object_rest_rotation(scenario);
    // The object's current rotation relative to rest tells how far it yawed since the start.
    let heading = |local: Vector3<f64>| {
        let w = object_rot * local;
        w.y.atan2(w.x)
    };
    let psi = match scenario.object.shape {
        Shape::Sphere { .. } => natural,
        Shape::Cylinder { .. } | Shape::Capsule { .. } if !scenario.object.pose.lying => natural,
        Shape::Cylinder { .. } | Shape::Capsule { .. } => heading(Vector3::y()),
        Shape::Box { size } => {
            let _ = rest;
            let theta = heading(Vector3::x());
            // Closing along the box y axis (ψ = θ) spans size[1]; along x (ψ = θ + π/2) spans size[0].
            let fits = |w: f64| w <= max_opening - 0.01;
            if (size[1] <= size[0] && fits(size[1])) || !fits(size[0]) {
                theta
            } else {
                theta + std::f64::consts::FRAC_PI_2
            }
        }
    };
    // The gripper is symmetric under a half turn: pick the equivalent yaw nearest `natural`.
    natural + wrap_angle(2.0 * (psi - natural)) / 2.0
}

/// The tool height (m) at which to close: the object's centre, but high enough that the palm
/// clears its top and the fingertips clear the table.
pub fn grasp_height(scenario: &Scenario, arm: &ArmModel) -> f64 {
    let prof = &arm.profile;
    scenario.rest_height().max(scenario.rest_top() + 0.003 - prof.palm_offset).max(prof.fingertip_offset + 0.005)
}

impl ScriptedGrasp {
    /// A controller for one episode of `scenario`.
    pub fn new(scenario: &Scenario, arm: &ArmModel, params: ScriptedParams) -> Self {
        let (rest, _) = object_rest_rotation(scenario);
        Self {
            params,
            phase: Phase::Approach,
            phase_steps: 0,
            grasp_yaw: grasp_yaw(scenario, &rest, arm.max_opening()),
            grasp_z: grasp_height(scenario, arm),
            hold_xy: None,
            touched_steps: 0,
            reference: None,
            reference_yaw: scenario.arm_start.tool_yaw,
            bias: Vector3::zeros(),
            settled_steps: 0,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    fn goto(&mut self, p: &Privileged, goal: Vector3<f64>, gripper: f32, limits: &ActionLimits) -> Action {
        let reference = *self.reference.get_or_insert(p.tool_target);
        let k = &self.params;
        let step_max = limits.max_translation * k.speed;
        // Once the reference has rested at the (biased) goal for longer than any action latency,
        // integrate the measured error.
        if (goal + self.bias - reference).amax() <= 1e-9 {
            self.settled_steps += 1;
        } else {
            self.settled_steps = 0;
        }
        if self.settled_steps > 3 {
            self.bias += (goal - p.tool.translation.vector) * k.integral_gain;
            self.bias = self.bias.map(|b| b.clamp(-k.integral_limit, k.integral_limit));
        }
        let want = goal + self.bias - reference;
        let scale = if want.amax() > step_max { step_max / want.amax() } else { 1.0 };
        let step = want * scale;
        self.reference = Some(reference + step);
        let yaw_max = limits.max_yaw * k.speed;
        let yaw_step = wrap_angle(self.grasp_yaw - self.reference_yaw).clamp(-yaw_max, yaw_max);
        self.reference_yaw = wrap_angle(self.reference_yaw + yaw_step);
        Action { translation: [step.x as f32, step.y as f32, step.z as f32], yaw: yaw_step as f32, gripper }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.phase_steps = 0;
    }

    /// The action for the current state.
    pub fn act(&mut self, p: &Privileged, limits: &ActionLimits) -> Action {
        self.phase_steps += 1;
        let obj = p.object.translation.vector;
        let tool = p.tool.translation.vector;
        let xy_err = (obj.xy() - tool.xy()).norm();
        let timeout = self.phase_steps > self.params.phase_timeout;
        let yaw_ok =
            crate::kinematics::wrap_angle(self.grasp_yaw - crate::kinematics::tool_yaw(&p.tool.rotation)).abs() < 0.05;
        match self.phase {
            Phase::Approach => {
                let goal = Vector3::new(obj.x, obj.y, self.grasp_z + self.params.approach_height);
                if (xy_err < self.params.xy_tolerance && (goal.z - tool.z).abs() < 0.01 && yaw_ok) || timeout {
                    self.enter(Phase::Descend);
                }
                self.goto(p, goal, -1.0, limits)
            }
            Phase::Descend => {
                let goal = Vector3::new(obj.x, obj.y, self.grasp_z);
                if ((tool.z - self.grasp_z).abs() < 0.003 && xy_err < self.params.xy_tolerance) || timeout {
                    self.enter(Phase::Close);
                    self.hold_xy = Some([obj.x, obj.y]);
                }
                self.goto(p, goal, -1.0, limits)
            }
            Phase::Close => {
                let [x, y] = self.hold_xy.unwrap_or([tool.x, tool.y]);
                if p.finger_contact[0] && p.finger_contact[1] {
                    self.touched_steps += 1;
                }
                if self.touched_steps >= self.params.settle_steps || self.phase_steps > 30 {
                    self.enter(Phase::Lift);
                    self.bias = Vector3::zeros();
                }
                self.goto(p, Vector3::new(x, y, self.grasp_z), 1.0, limits)
            }
            Phase::Lift => {
                let [x, y] = self.hold_xy.unwrap_or([tool.x, tool.y]);
                self.goto(p, Vector3::new(x, y, self.grasp_z + self.params.lift_height), 1.0, limits)
            }
        }
    }
}

/// A state-driven grasp expert: the same approach → descend → close → lift strategy, but its
/// phase is recomputed from the measured state at every step and its commands account for the
/// actions still in the latency queue. It can therefore label any state, including those a
/// learning policy visits (DAgger), not only its own trajectories.
#[derive(Clone, Debug)]
pub struct Expert {
    params: ScriptedParams,
    grasp_z: f64,
    min_width: f64,
    max_opening: f64,
    full_grip: f64,
}

impl Expert {
    /// An expert for episodes of `scenario`.
    pub fn new(scenario: &Scenario, arm: &ArmModel, params: ScriptedParams) -> Self {
        let facts = crate::env::object_facts(scenario);
        let effort: f64 = arm.gripper_joints.iter().map(|g| g.effort).sum();
        Self {
            params,
            grasp_z: grasp_height(scenario, arm),
            min_width: facts.min_width,
            max_opening: arm.max_opening(),
            full_grip: effort * scenario.physics.gripper_force_scale,
        }
    }

    /// The expert's action in state `p` of an episode of `scenario`.
    pub fn act(&self, scenario: &Scenario, p: &Privileged, limits: &ActionLimits) -> Action {
        let obj = p.object.translation.vector;
        let tool = p.tool.translation.vector;
        let pending: Vector3<f64> = p.pending.iter().fold(Vector3::zeros(), |acc, a| {
            acc + Vector3::new(a.translation[0] as f64, a.translation[1] as f64, a.translation[2] as f64)
        });
        let pending_yaw: f64 = p.pending.iter().map(|a| a.yaw as f64).sum();
        let yaw = grasp_yaw(scenario, &p.object.rotation, self.max_opening);
        let xy_err = (obj.xy() - tool.xy()).norm();
        let approach_z = self.grasp_z + self.params.approach_height;
        let held = p.finger_contact[0] && p.finger_contact[1] && p.grip_force > 0.6 * self.full_grip;
        let closed_on_nothing =
            p.gripper_opening < self.min_width - 0.003 && !p.finger_contact[0] && !p.finger_contact[1];
        let at_grasp = xy_err < 0.004 && (tool.z - self.grasp_z).abs() < 0.004;
        let touching = p.finger_contact[0] || p.finger_contact[1];
        let (goal, gripper) = if held {
            (Vector3::new(tool.x, tool.y, self.grasp_z + self.params.lift_height), 1.0)
        } else if closed_on_nothing {
            // Missed: open and go back up above the object.
            (Vector3::new(tool.x, tool.y, approach_z), -1.0)
        } else if at_grasp || (touching && xy_err < 0.01 && tool.z < self.grasp_z + 0.01) {
            (Vector3::new(tool.x, tool.y, tool.z), 1.0)
        } else if xy_err < 0.006 && tool.z < approach_z + 0.01 {
            (Vector3::new(obj.x, obj.y, self.grasp_z), -1.0)
        } else if tool.z < approach_z - 0.015 && xy_err > 0.02 {
            // Low and far: rise first so as not to sweep through the object.
            (Vector3::new(tool.x, tool.y, approach_z), -1.0)
        } else {
            (Vector3::new(obj.x, obj.y, approach_z), -1.0)
        };
        // Command the displacement that brings the *measured* tool to the goal once the queued
        // actions have landed; near the goal this also removes the servos' steady sag.
        let target = p.tool_target + pending;
        let sag = if (goal - target).norm() < 0.01 { p.tool_target - tool } else { Vector3::zeros() };
        let want = goal + sag - target;
        let step_max = limits.max_translation * self.params.speed;
        let scale = if want.amax() > step_max { step_max / want.amax() } else { 1.0 };
        let d = want * scale;
        let yaw_max = limits.max_yaw * self.params.speed;
        let dyaw = wrap_angle(yaw - (p.tool_target_yaw + pending_yaw)).clamp(-yaw_max, yaw_max);
        Action { translation: [d.x as f32, d.y as f32, d.z as f32], yaw: dyaw as f32, gripper }
    }
}
