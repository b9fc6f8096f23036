//! The scripted grasp: a privileged controller that reads the true object pose and runs
//! approach → descend → close → lift with the same actions a policy would emit. It proves that
//! friction grasps work in this world and provides demonstrations. Both controllers aim the
//! tool so that the object's centre lies at the gripper's grasp point for the object's width
//! across the jaws ([`crate::gripper::Gripper::grasp_point`]): a rotating jaw's grasp centre
//! is not the tool origin.

use nalgebra::{UnitQuaternion, Vector3};

use crate::action::Action;
use crate::arm::ArmModel;
use crate::config::ActionLimits;
use crate::env::Privileged;
use crate::kinematics::{top_down_rotation, wrap_angle};
use crate::scenario::{Scenario, Shape};
use crate::world::object_rest_rotation;

/// How far (m) below the workspace's ceiling the controllers' highest goals stay, so that
/// the measured tool can reach them.
pub const CEILING_MARGIN: f64 = 0.003;

/// Largest tool yaw error (rad) at which both controllers descend and close: jaws still turning
/// towards the grasp yaw would sweep into the object.
pub const ALIGNED_YAW: f64 = 0.05;

/// A goal height `z` (m) capped below the workspace ceiling of `p`.
fn capped(z: f64, p: &Privileged) -> f64 {
    z.min(p.tool_ceiling - CEILING_MARGIN)
}

/// How an arm's task sets up the state-driven [`Expert`] (the `[task.expert]` table of an arm
/// profile; omitted = regrasp-arm5's expert).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertSettings {
    /// Descend and close only once the measured tool yaw is within [`ALIGNED_YAW`] of the grasp
    /// yaw, as the scripted grasp does. Off, the expert descends while still turning: jaws that
    /// turn through more than a quarter turn (the SO-101's wrist roll, 0.14 rad per step) then
    /// sweep into the object (SO-101 expert: 88.6 % of 500 training scenarios off, 97.8 % on).
    /// regrasp-arm5's demonstrations, policies and stored results were made with it off.
    #[serde(default)]
    pub wait_for_yaw: bool,
}

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
    /// Height of the pre-grasp pose above the grasp height (m), at most [`CEILING_MARGIN`]
    /// below the workspace's ceiling.
    pub approach_height: f64,
    /// Height of the lift above the grasp height (m), at most [`CEILING_MARGIN`] below the
    /// workspace's ceiling.
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
    natural_yaw: Option<f64>,
    grasp_z: f64,
    /// Where the tool aims and how wide the gripper opens.
    aim: GraspAim,
    hold_xy: Option<[f64; 2]>,
    touched_steps: u32,
    reference: Option<Vector3<f64>>,
    reference_yaw: f64,
    bias: Vector3<f64>,
    settled_steps: u32,
}

/// The tool yaw (rad) for a top-down grasp by `arm` of the object in `scenario` whose current
/// pose has yaw rotation `object_rot`: the jaws close across the narrowest horizontal extent
/// that fits (across the bearing for round objects), choosing among equivalent yaws (a half
/// turn apart) the one nearest the arm's natural yaw at the object bearing (the bearing plus
/// the profile's `natural_yaw`).
pub fn grasp_yaw(scenario: &Scenario, object_rot: &nalgebra::UnitQuaternion<f64>, arm: &ArmModel) -> f64 {
    let max_opening = arm.gripper.max_opening();
    let p = &scenario.object.pose;
    let bearing = p.y.atan2(p.x);
    let natural = natural_yaw(arm, p.x, p.y).unwrap_or(bearing);
    let (rest, _) = object_rest_rotation(scenario);
    // The object's current rotation relative to rest tells how far it yawed since the start.
    let heading = |local: Vector3<f64>| {
        let w = object_rot * local;
        w.y.atan2(w.x)
    };
    let psi = match scenario.object.shape {
        Shape::Sphere { .. } => bearing,
        Shape::Cylinder { .. } | Shape::Capsule { .. } if !scenario.object.pose.lying => bearing,
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

/// The yaw change (rad) that turns the tool from yaw `from` to yaw `to` the shorter way,
/// unless that way passes the wrist's seam half a turn from the arm's natural yaw `natural`
/// (where the wrist roll would have to cross its limits); then the longer way. An arm whose
/// profile gives no `natural_yaw` (`None`) always turns the shorter way.
pub fn yaw_change(from: f64, to: f64, natural: Option<f64>) -> f64 {
    use std::f64::consts::PI;
    let d = wrap_angle(to - from);
    let Some(natural) = natural else { return d };
    let end = wrap_angle(from - natural) + d;
    if end > PI {
        d - 2.0 * PI
    } else if end <= -PI {
        d + 2.0 * PI
    } else {
        d
    }
}

/// The arm's natural grasp yaw (rad) for an object at (`x`, `y`) (m): its bearing plus the
/// profile's `natural_yaw`, if the profile gives one.
pub fn natural_yaw(arm: &ArmModel, x: f64, y: f64) -> Option<f64> {
    arm.profile.natural_yaw.map(|offset| y.atan2(x) + offset)
}

/// The object's width (m) along the world direction `dir` (unit) with the object at rotation
/// `object_rot`: the distance between the two planes normal to `dir` that touch it.
pub fn width_along(shape: &Shape, object_rot: &UnitQuaternion<f64>, dir: &Vector3<f64>) -> f64 {
    let local = object_rot.inverse() * dir;
    // Rapier's cylinders and capsules have their axis along local Y.
    let along_axis = local.y.abs().min(1.0);
    match *shape {
        Shape::Box { size } => local.x.abs() * size[0] + local.y.abs() * size[1] + local.z.abs() * size[2],
        Shape::Sphere { radius } => 2.0 * radius,
        Shape::Cylinder { radius, height } => {
            2.0 * radius * (1.0 - along_axis * along_axis).sqrt() + height * along_axis
        }
        Shape::Capsule { radius, length } => 2.0 * radius + (length - 2.0 * radius).max(0.0) * along_axis,
    }
}

/// How a top-down grasp at tool yaw `yaw` (rad) meets an object: where the tool aims and how
/// wide the gripper opens first, both from the object's width across the jaws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GraspAim {
    /// The world offset (m) from the object's centre to the tool target: minus the gripper's
    /// grasp point, turned into the world; `None` where the grasp point is the tool origin (a
    /// parallel gripper), so that such aims stay bit for bit the object's centre.
    pub offset: Option<Vector3<f64>>,
    /// The gripper command to approach and descend with (−1 = fully open).
    pub open_command: f32,
}

impl GraspAim {
    /// The aim for `shape` at rotation `object_rot` and tool yaw `yaw` (rad).
    pub fn new(arm: &ArmModel, shape: &Shape, object_rot: &UnitQuaternion<f64>, yaw: f64) -> Self {
        let tool = top_down_rotation(yaw);
        let width = width_along(shape, object_rot, &(tool * Vector3::y()));
        let point = arm.gripper.grasp_point(width);
        Self {
            offset: (point != Vector3::zeros()).then(|| -(tool * point)),
            open_command: arm.gripper.pregrasp_command(width),
        }
    }

    /// The tool's aim point (m, world) for an object centred at `centre`.
    pub fn point(&self, centre: Vector3<f64>) -> Vector3<f64> {
        self.offset.map_or(centre, |o| centre + o)
    }
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
        let yaw = grasp_yaw(scenario, &rest, arm);
        Self {
            params,
            phase: Phase::Approach,
            phase_steps: 0,
            grasp_yaw: yaw,
            natural_yaw: natural_yaw(arm, scenario.object.pose.x, scenario.object.pose.y),
            grasp_z: grasp_height(scenario, arm),
            aim: GraspAim::new(arm, &scenario.object.shape, &rest, yaw),
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
        let yaw_step = yaw_change(self.reference_yaw, self.grasp_yaw, self.natural_yaw).clamp(-yaw_max, yaw_max);
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
        let obj = self.aim.point(p.object.translation.vector);
        let open = self.aim.open_command;
        let tool = p.tool.translation.vector;
        let xy_err = (obj.xy() - tool.xy()).norm();
        let timeout = self.phase_steps > self.params.phase_timeout;
        let yaw_ok = crate::kinematics::wrap_angle(self.grasp_yaw - crate::kinematics::tool_yaw(&p.tool.rotation))
            .abs()
            < ALIGNED_YAW;
        match self.phase {
            Phase::Approach => {
                let goal = Vector3::new(obj.x, obj.y, capped(self.grasp_z + self.params.approach_height, p));
                if (xy_err < self.params.xy_tolerance && (goal.z - tool.z).abs() < 0.01 && yaw_ok) || timeout {
                    self.enter(Phase::Descend);
                }
                self.goto(p, goal, open, limits)
            }
            Phase::Descend => {
                let goal = Vector3::new(obj.x, obj.y, self.grasp_z);
                if ((tool.z - self.grasp_z).abs() < 0.003 && xy_err < self.params.xy_tolerance) || timeout {
                    self.enter(Phase::Close);
                    self.hold_xy = Some([obj.x, obj.y]);
                }
                self.goto(p, goal, open, limits)
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
                self.goto(p, Vector3::new(x, y, capped(self.grasp_z + self.params.lift_height, p)), 1.0, limits)
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
    full_grip: f64,
    arm: std::sync::Arc<ArmModel>,
}

impl Expert {
    /// An expert for episodes of `scenario`.
    pub fn new(scenario: &Scenario, arm: &std::sync::Arc<ArmModel>, params: ScriptedParams) -> Self {
        let facts = crate::env::object_facts(scenario);
        Self {
            params,
            grasp_z: grasp_height(scenario, arm),
            min_width: facts.min_width,
            full_grip: arm.gripper.full_grip_force(scenario.physics.gripper_force_scale),
            arm: std::sync::Arc::clone(arm),
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
        let yaw = grasp_yaw(scenario, &p.object.rotation, &self.arm);
        let aim = GraspAim::new(&self.arm, &scenario.object.shape, &p.object.rotation, yaw);
        let (obj, open) = (aim.point(obj), aim.open_command);
        let xy_err = (obj.xy() - tool.xy()).norm();
        let approach_z = capped(self.grasp_z + self.params.approach_height, p);
        let held = p.finger_contact[0] && p.finger_contact[1] && p.grip_force > 0.6 * self.full_grip;
        let closed_on_nothing =
            p.gripper_opening < self.min_width - 0.003 && !p.finger_contact[0] && !p.finger_contact[1];
        let at_grasp = xy_err < 0.004 && (tool.z - self.grasp_z).abs() < 0.004;
        let touching = p.finger_contact[0] || p.finger_contact[1];
        // Descend and close only once the measured tool yaw is at the grasp yaw.
        let aligned = !self.arm.task.expert.wait_for_yaw
            || wrap_angle(yaw - crate::kinematics::tool_yaw(&p.tool.rotation)).abs() < ALIGNED_YAW;
        let (goal, gripper) = if held {
            (Vector3::new(tool.x, tool.y, capped(self.grasp_z + self.params.lift_height, p)), 1.0)
        } else if closed_on_nothing {
            // Missed: open and go back up above the object.
            (Vector3::new(tool.x, tool.y, approach_z), open)
        } else if aligned && (at_grasp || (touching && xy_err < 0.01 && tool.z < self.grasp_z + 0.01)) {
            (Vector3::new(tool.x, tool.y, tool.z), 1.0)
        } else if aligned && xy_err < 0.006 && tool.z < approach_z + 0.01 {
            (Vector3::new(obj.x, obj.y, self.grasp_z), open)
        } else if tool.z < approach_z - 0.015 && xy_err > 0.02 {
            // Low and far: rise first so as not to sweep through the object.
            (Vector3::new(tool.x, tool.y, approach_z), open)
        } else {
            (Vector3::new(obj.x, obj.y, approach_z), open)
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
        let natural = natural_yaw(&self.arm, scenario.object.pose.x, scenario.object.pose.y);
        let dyaw = yaw_change(p.tool_target_yaw + pending_yaw, yaw, natural).clamp(-yaw_max, yaw_max);
        Action { translation: [d.x as f32, d.y as f32, d.z as f32], yaw: dyaw as f32, gripper }
    }
}
