//! `GraspEnv`: one episode at a time over a fresh [`SimWorld`]: `reset(&Scenario)` builds the
//! world and returns the first observation; `step(&Action)` applies the action (after the
//! scenario's latency), converts it into joint targets by damped-least-squares IK, runs the
//! physics substeps with the joint motors, classifies, rewards and observes.

use std::collections::VecDeque;
use std::sync::Arc;

use nalgebra::{Isometry3, Matrix3, Translation3, UnitQuaternion, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::arm::ArmModel;
use crate::config::EnvConfig;
use crate::error::{Result, SimError};
use crate::kinematics::{top_down_rotation, wrap_angle, IkParams};
use crate::observation::ObsLayout;
use crate::outcome::{Classifier, ObjectFacts, Outcome, StepSignals};
use crate::scenario::{Scenario, ShapeKind};
use crate::world::{ContactReadings, MotorCommand, SimWorld};

/// The result of one control step.
#[derive(Clone, Debug)]
pub struct Step {
    /// Observation after the step (see [`crate::observation`]).
    pub obs: Vec<f32>,
    /// Reward of the step (see [`crate::reward`]).
    pub reward: f64,
    /// Whether the episode ended.
    pub done: bool,
    /// The outcome, on the step that ends the episode.
    pub outcome: Option<Outcome>,
}

/// Ground truth the env knows and a policy does not: for the scripted grasp, logging and tests.
#[derive(Clone, Debug)]
pub struct Privileged {
    /// Object pose (m, world).
    pub object: Isometry3<f64>,
    /// Tool pose from the measured joints (m, world).
    pub tool: Isometry3<f64>,
    /// Tool target position (m, world).
    pub tool_target: Vector3<f64>,
    /// Tool target yaw (rad).
    pub tool_target_yaw: f64,
    /// Gripper opening (m).
    pub gripper_opening: f64,
    /// Left / right finger touches the object.
    pub finger_contact: [bool; 2],
    /// Largest grip force during the last control step (N).
    pub grip_force: f64,
    /// Measured arm joint positions (rad or m).
    pub q: Vec<f64>,
    /// Commanded arm joint positions (rad or m).
    pub q_cmd: Vec<f64>,
    /// Control steps taken.
    pub steps: u32,
    /// Actions given but not yet applied (the action-latency queue, oldest first).
    pub pending: Vec<Action>,
}

/// Safety figures of the current episode (what a promotion gate must not let regress).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EpisodeSafety {
    /// Largest total contact force (N) of the arm and fingers on the table or the object, over
    /// every physics step of the episode.
    pub peak_contact_force: f64,
    /// Largest arm–table contact force (N) over every physics step.
    pub peak_table_force: f64,
    /// Control steps at which the IK solution sat at a joint limit.
    pub joint_limit_steps: u32,
}

/// Counters that survive across episodes.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnvCounters {
    /// Actions rejected for NaN or infinite components.
    pub rejected_actions: u64,
    /// Control steps taken.
    pub control_steps: u64,
    /// Physics steps taken.
    pub physics_steps: u64,
}

struct Episode {
    scenario: Scenario,
    world: SimWorld,
    rng: ChaCha8Rng,
    q_cmd: Vec<f64>,
    finger_cmd: f64,
    target_pos: Vector3<f64>,
    target_yaw: f64,
    queue: VecDeque<Action>,
    prev_action: Action,
    steps: u32,
    classifier: Classifier,
    outcome: Option<Outcome>,
    contacts: ContactReadings,
    grip_force: f64,
    /// Shaping potential of the current state.
    potential: f64,
    /// Height of the object's centre at the start (m).
    start_z: f64,
    safety: EpisodeSafety,
}

/// The grasping environment.
pub struct GraspEnv {
    arm: Arc<ArmModel>,
    cfg: Arc<EnvConfig>,
    layout: ObsLayout,
    ep: Option<Episode>,
    counters: EnvCounters,
}

/// Facts about an object at rest that the classifier needs.
pub fn object_facts(s: &Scenario) -> ObjectFacts {
    let e = s.object.shape.extents();
    let horizontal = if s.object.pose.lying { [e[2], e[0]] } else { [e[0], e[1]] };
    ObjectFacts {
        start_pos: [s.object.pose.x, s.object.pose.y, s.rest_height() + 5e-4],
        top: s.rest_top(),
        min_width: horizontal[0].min(horizontal[1]),
        can_tip: match s.object.shape.kind() {
            ShapeKind::Box => true,
            ShapeKind::Cylinder | ShapeKind::Capsule => !s.object.pose.lying,
            ShapeKind::Sphere => false,
        },
    }
}

impl GraspEnv {
    /// An env for `arm` with `cfg` (validated here).
    pub fn new(arm: Arc<ArmModel>, cfg: Arc<EnvConfig>) -> Result<Self> {
        cfg.validate("env config")?;
        let layout = ObsLayout::new(arm.dof());
        Ok(Self { arm, cfg, layout, ep: None, counters: EnvCounters::default() })
    }

    /// The arm.
    pub fn arm(&self) -> &Arc<ArmModel> {
        &self.arm
    }

    /// The config.
    pub fn config(&self) -> &Arc<EnvConfig> {
        &self.cfg
    }

    /// The observation layout.
    pub fn layout(&self) -> ObsLayout {
        self.layout
    }

    /// Observation length.
    pub fn obs_dim(&self) -> usize {
        self.layout.len()
    }

    /// Counters across episodes.
    pub fn counters(&self) -> EnvCounters {
        self.counters
    }

    /// The scenario of the current episode.
    pub fn scenario(&self) -> Option<&Scenario> {
        self.ep.as_ref().map(|e| &e.scenario)
    }

    /// The outcome of the current episode, once it ended.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.ep.as_ref().and_then(|e| e.outcome.as_ref())
    }

    /// The physics world of the current episode.
    pub fn world(&self) -> Option<&SimWorld> {
        self.ep.as_ref().map(|e| &e.world)
    }

    /// Every body's name, kind and collision mesh in the current episode (for recorders).
    pub fn scene_geometry(&self) -> Option<crate::scene::SceneGeometry> {
        self.ep.as_ref().map(|e| e.world.scene_geometry(&self.arm.link_names))
    }

    /// Body poses and active contacts after the last physics step (for recorders).
    pub fn scene_state(&self) -> Option<crate::scene::SceneState> {
        self.ep.as_ref().map(|e| e.world.scene_state())
    }

    /// Hash of the complete state (physics and controller), bit for bit; 0 before any reset.
    pub fn state_hash(&self) -> u64 {
        let Some(ep) = &self.ep else { return 0 };
        let mut h = crate::hash::Fnv64::new();
        h.write_u64(ep.world.state_hash());
        for q in &ep.q_cmd {
            h.write_f64(*q);
        }
        h.write_f64(ep.finger_cmd);
        for v in ep.target_pos.iter() {
            h.write_f64(*v);
        }
        h.write_f64(ep.target_yaw);
        h.write_u64(ep.steps as u64);
        h.finish()
    }

    /// The start joint positions for a scenario's arm start (rad or m), by IK.
    pub fn start_configuration(&self, s: &Scenario, src: &str) -> Result<Vec<f64>> {
        let home = self.arm.profile.home_tool_position;
        let o = s.arm_start.tool_offset;
        let target = Isometry3::from_parts(
            Translation3::new(home[0] + o[0], home[1] + o[1], home[2] + o[2]),
            top_down_rotation(s.arm_start.tool_yaw),
        );
        let chain = &self.arm.chain;
        let seed: Vec<f64> = (0..chain.dof()).map(|i| 0.5 * (chain.lower[i] + chain.upper[i])).collect();
        let mut best = chain.solve_ik(&target, &seed, &IkParams { max_iterations: 300, ..Default::default() });
        if best.position_error > 2e-3 {
            // A second seed bent like a grasping arm (elbow up) helps arms with narrow basins.
            let bent: Vec<f64> = (0..chain.dof())
                .map(|i| {
                    let mid = 0.5 * (chain.lower[i] + chain.upper[i]);
                    if i % 2 == 1 { mid + 0.25 * (chain.upper[i] - mid) } else { mid }
                })
                .collect();
            let other = chain.solve_ik(&target, &bent, &IkParams { max_iterations: 300, ..Default::default() });
            if other.position_error < best.position_error {
                best = other;
            }
        }
        if best.position_error > 2e-3 || best.rotation_error > 2e-2 {
            return Err(SimError::invalid(
                src,
                "arm_start",
                format!(
                    "the start tool pose is not reachable (IK error {:.4} m, {:.3} rad)",
                    best.position_error, best.rotation_error
                ),
            ));
        }
        Ok(best.q)
    }

    /// Starts an episode. The scenario is validated first: no scenario can panic the env.
    pub fn reset(&mut self, scenario: &Scenario) -> Result<Vec<f32>> {
        scenario.validate("scenario")?;
        let q0 = self.start_configuration(scenario, "scenario")?;
        let world = SimWorld::build(&self.arm, &self.cfg, scenario, &q0);
        let tool = self.arm.chain.fk(&q0);
        let facts = object_facts(scenario);
        let classifier =
            Classifier::new(self.cfg.outcome, facts, self.cfg.control_dt(), self.cfg.max_steps());
        let latency = scenario.sensing.action_latency as usize;
        let mut ep = Episode {
            scenario: *scenario,
            world,
            rng: ChaCha8Rng::seed_from_u64(scenario.seed),
            finger_cmd: self.arm.gripper_joints[0].upper,
            q_cmd: q0,
            target_pos: tool.translation.vector,
            target_yaw: scenario.arm_start.tool_yaw,
            queue: std::iter::repeat_n(Action::HOLD_OPEN, latency).collect(),
            prev_action: Action::HOLD_OPEN,
            steps: 0,
            classifier,
            outcome: None,
            contacts: ContactReadings::default(),
            grip_force: 0.0,
            potential: 0.0,
            start_z: facts.start_pos[2],
            safety: EpisodeSafety::default(),
        };
        let start_distance = (tool.translation.vector - Vector3::new(facts.start_pos[0], facts.start_pos[1], facts.start_pos[2])).norm();
        ep.potential = self.cfg.reward.potential(start_distance, false, 0.0, self.cfg.outcome.success_lift);
        // Hold the start pose for the first physics update.
        let cmds: Vec<MotorCommand> = ep.q_cmd.iter().map(|&q| MotorCommand { position: q, velocity: 0.0 }).collect();
        ep.world.command_arm(&self.arm, &self.cfg, &cmds);
        let obs = self.observe(&mut ep);
        self.ep = Some(ep);
        Ok(obs)
    }

    /// Safety figures of the current (or just ended) episode.
    pub fn safety(&self) -> Option<EpisodeSafety> {
        self.ep.as_ref().map(|e| e.safety)
    }

    /// Ground truth of the current episode.
    pub fn privileged(&self) -> Option<Privileged> {
        let ep = self.ep.as_ref()?;
        let q = ep.world.arm_positions();
        let f = ep.world.finger_positions();
        Some(Privileged {
            object: ep.world.object_pose(),
            tool: self.arm.chain.fk(&q),
            tool_target: ep.target_pos,
            tool_target_yaw: ep.target_yaw,
            gripper_opening: f[0] + f[1],
            finger_contact: ep.contacts.finger_contact,
            grip_force: ep.grip_force,
            q,
            q_cmd: ep.q_cmd.clone(),
            steps: ep.steps,
            pending: ep.queue.iter().copied().collect(),
        })
    }

    /// Advances one control step. A non-finite action is rejected (counted, and nothing moves).
    pub fn step(&mut self, action: &Action) -> Result<Step> {
        if let Err(e) = action.check_finite() {
            self.counters.rejected_actions += 1;
            return Err(e);
        }
        let Some(mut ep) = self.ep.take() else { return Err(SimError::NotRunning("call reset first")) };
        if ep.outcome.is_some() {
            self.ep = Some(ep);
            return Err(SimError::NotRunning("the episode has ended; call reset"));
        }
        let result = self.step_episode(&mut ep, action);
        self.ep = Some(ep);
        Ok(result)
    }

    fn step_episode(&mut self, ep: &mut Episode, action: &Action) -> Step {
        let arm = Arc::clone(&self.arm);
        let cfg = Arc::clone(&self.cfg);
        let given = action.clipped(&cfg.action);
        ep.queue.push_back(given);
        let applied = ep.queue.pop_front().unwrap_or(given);

        // Tool target: previous target + displacement, inside the workspace, never leading the
        // measured tool by more than max_target_lead.
        let q_meas = ep.world.arm_positions();
        let tool_meas = arm.chain.fk(&q_meas).translation.vector;
        let mut target = ep.target_pos + Vector3::new(applied.translation[0] as f64, applied.translation[1] as f64, applied.translation[2] as f64);
        let ws = &cfg.workspace;
        for i in 0..3 {
            target[i] = target[i].clamp(ws.min[i], ws.max[i]);
        }
        let lead = target - tool_meas;
        if lead.norm() > cfg.action.max_target_lead {
            target = tool_meas + lead * (cfg.action.max_target_lead / lead.norm());
        }
        ep.target_pos = target;
        ep.target_yaw = wrap_angle(ep.target_yaw + applied.yaw as f64);
        let goal = Isometry3::from_parts(Translation3::from(target), top_down_rotation(ep.target_yaw));
        let sol = arm.chain.solve_ik(
            &goal,
            &ep.q_cmd,
            &IkParams { max_iterations: cfg.ik_iterations, ..Default::default() },
        );
        let dt = cfg.control_dt();
        let q_new: Vec<f64> = ep
            .q_cmd
            .iter()
            .zip(&sol.q)
            .zip(&arm.arm_joints)
            .map(|((&from, &to), spec)| from + (to - from).clamp(-spec.velocity * dt, spec.velocity * dt))
            .collect();
        let joint_at_limit = sol.at_limit.iter().position(|&b| b);

        let finger_spec = &arm.gripper_joints[0];
        let finger_goal = (1.0 - applied.gripper as f64) / 2.0 * finger_spec.upper;
        let finger_new =
            ep.finger_cmd + (finger_goal - ep.finger_cmd).clamp(-finger_spec.velocity * dt, finger_spec.velocity * dt);

        let n = cfg.substeps();
        let mut table_force: f64 = 0.0;
        let mut grip_force: f64 = 0.0;
        let mut finite = true;
        let force_scale = ep.scenario.physics.gripper_force_scale;
        let mut cmds = vec![MotorCommand { position: 0.0, velocity: 0.0 }; q_new.len()];
        for k in 1..=n {
            let a = k as f64 / n as f64;
            for ((c, &from), &to) in cmds.iter_mut().zip(&ep.q_cmd).zip(&q_new) {
                *c = MotorCommand { position: from + (to - from) * a, velocity: (to - from) / dt };
            }
            ep.world.command_arm(&arm, &cfg, &cmds);
            let f = MotorCommand {
                position: ep.finger_cmd + (finger_new - ep.finger_cmd) * a,
                velocity: (finger_new - ep.finger_cmd) / dt,
            };
            ep.world.command_gripper(&arm, &cfg, &[f, f], force_scale);
            ep.world.step();
            let c = ep.world.contacts();
            table_force = table_force.max(c.table_force);
            grip_force = grip_force.max(c.grip_force);
            ep.safety.peak_contact_force = ep.safety.peak_contact_force.max(c.table_force + c.grip_force);
            ep.contacts = c;
            if !ep.world.is_finite() {
                finite = false;
                break;
            }
        }
        self.counters.physics_steps += n as u64;
        self.counters.control_steps += 1;
        ep.q_cmd = q_new;
        ep.finger_cmd = finger_new;
        ep.steps += 1;
        ep.grip_force = grip_force;
        ep.safety.peak_table_force = ep.safety.peak_table_force.max(table_force);
        ep.safety.joint_limit_steps += joint_at_limit.is_some() as u32;

        let obj = ep.world.object_pose();
        let up = obj.rotation * ep.world.object_up_local;
        let q_after = ep.world.arm_positions();
        let fingers = ep.world.finger_positions();
        let tool = arm.chain.fk(&q_after);
        let obj_speed = ep.world.object_velocity().norm();
        let signals = StepSignals {
            finite: finite && obj.translation.vector.iter().all(|v| v.is_finite()) && obj_speed.is_finite(),
            object_pos: [obj.translation.x, obj.translation.y, obj.translation.z],
            object_speed: if obj_speed.is_finite() { obj_speed } else { f64::INFINITY },
            object_tilt: up.z.clamp(-1.0, 1.0).acos(),
            tool_pos: [tool.translation.x, tool.translation.y, tool.translation.z],
            gripper_opening: fingers[0] + fingers[1],
            left_contact: ep.contacts.finger_contact[0],
            right_contact: ep.contacts.finger_contact[1],
            table_force,
            joint_at_limit,
        };
        let outcome = ep.classifier.update(&signals);
        let distance = (tool.translation.vector - obj.translation.vector).norm();
        let held = Classifier::held(&signals);
        let lift = signals.object_pos[2] - ep.start_z;
        let norm = applied.to_normalized(&cfg.action);
        let action_sq: f64 = norm.iter().map(|v| (*v as f64) * (*v as f64)).sum();
        let potential = cfg.reward.potential(
            if distance.is_finite() { distance } else { 1.0 },
            held,
            if lift.is_finite() { lift } else { 0.0 },
            cfg.outcome.success_lift,
        );
        let reward = cfg.reward.reward(ep.potential, potential, action_sq, outcome.as_ref().map(|o| o.kind));
        ep.potential = potential;
        ep.prev_action = applied;
        ep.outcome = outcome.clone();
        let obs = self.observe(ep);
        Step { obs, reward, done: outcome.is_some(), outcome }
    }

    fn observe(&self, ep: &mut Episode) -> Vec<f32> {
        let l = self.layout;
        let mut o = vec![0.0f32; l.len()];
        let sigma = ep.scenario.sensing.observation_noise;
        let noise = |rng: &mut ChaCha8Rng| -> f64 {
            if sigma == 0.0 {
                return 0.0;
            }
            // Box–Muller.
            let u1: f64 = rng.random::<f64>().max(1e-12);
            let u2: f64 = rng.random();
            sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        let mut q = ep.world.arm_positions();
        for v in q.iter_mut() {
            *v += noise(&mut ep.rng);
        }
        let qd = ep.world.arm_velocities();
        let f = ep.world.finger_positions();
        let tool = self.arm.chain.fk(&q);
        let obj = ep.world.object_pose();
        let rel = tool.inverse() * obj;
        let put = |o: &mut [f32], at: usize, vals: &[f64]| {
            for (i, v) in vals.iter().enumerate() {
                o[at + i] = if v.is_finite() { *v as f32 } else { 0.0 };
            }
        };
        put(&mut o, l.joint_pos(), &q);
        put(&mut o, l.joint_vel(), &qd);
        put(&mut o, l.gripper(), &[f[0] + f[1]]);
        put(&mut o, l.tool_pos(), tool.translation.vector.as_slice());
        put(&mut o, l.tool_rot(), &rot_columns(&tool.rotation));
        let rp = rel.translation.vector;
        let rel_pos = [rp.x + noise(&mut ep.rng), rp.y + noise(&mut ep.rng), rp.z + noise(&mut ep.rng)];
        put(&mut o, l.object_pos(), &rel_pos);
        put(&mut o, l.object_rot(), &rot_columns(&rel.rotation));
        put(&mut o, l.object_size(), &ep.scenario.object.shape.extents());
        let kind = ep.scenario.object.shape.kind();
        for (i, k) in ShapeKind::ALL.iter().enumerate() {
            o[l.shape() + i] = if *k == kind { 1.0 } else { 0.0 };
        }
        o[l.contacts()] = ep.contacts.finger_contact[0] as u8 as f32;
        o[l.contacts() + 1] = ep.contacts.finger_contact[1] as u8 as f32;
        let a = ep.prev_action.to_normalized(&self.cfg.action);
        o[l.prev_action()..l.prev_action() + 5].copy_from_slice(&a);
        o
    }
}

fn rot_columns(r: &UnitQuaternion<f64>) -> [f64; 6] {
    let m: Matrix3<f64> = r.to_rotation_matrix().into_inner();
    [m[(0, 0)], m[(1, 0)], m[(2, 0)], m[(0, 1)], m[(1, 1)], m[(2, 1)]]
}
