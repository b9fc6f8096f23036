//! `GraspEnv`: one episode at a time over a fresh [`SimWorld`]: `reset(&Scenario)` builds the
//! world and returns the first observation; `step(&Action)` applies the action (after the
//! scenario's latency), converts it into joint targets by damped-least-squares IK, runs the
//! physics substeps with the joint motors, classifies, rewards and observes.

use std::collections::VecDeque;
use std::sync::Arc;

use nalgebra::{Isometry3, Translation3, Vector3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::arm::ArmModel;
use crate::config::EnvConfig;
use crate::control::{JointTargets, ObsInputs, ToolController, build_observation};
use crate::error::{Result, SimError};
use crate::kinematics::{IkParams, top_down_rotation};
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
    /// The highest tool target the workspace allows (m, world z).
    pub tool_ceiling: f64,
    /// Gripper opening: the distance between the pads (m).
    pub gripper_opening: f64,
    /// Gripper joint positions (m for each parallel finger, rad for a rotating jaw).
    pub gripper_positions: Vec<f64>,
    /// The first / second pad (left / right finger, or fixed / moving jaw) touches the object.
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
    /// Wall time (ns) spent in the physics steps: motor commands, rapier's step and the contact
    /// readout, nothing of the control step around them. A benchmark figure (`bench sim`'s
    /// breakdown); it never feeds the simulation.
    #[serde(default)]
    pub physics_nanos: u64,
}

struct Episode {
    scenario: Scenario,
    world: SimWorld,
    rng: ChaCha8Rng,
    ctl: ToolController,
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
    /// The operator took the object away ([`GraspEnv::take_object_away`]): nothing more is judged.
    object_away: bool,
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

    /// Pokes the object with an impulse (N·s, world; see [`SimWorld::push_object`]). The
    /// episode is then no longer reproducible from its actions alone: viewers and tests only.
    pub fn push_object(&mut self, impulse: Vector3<f64>) -> Result<()> {
        let ep = self.ep.as_mut().ok_or(SimError::NotRunning("no episode to push"))?;
        ep.world.push_object(impulse)
    }

    /// The operator takes the object away after its trial (the sim twin, between trials; see
    /// [`SimWorld::take_object_away`]); the arm stays where it is and goes on running. The
    /// outcome decided so far stands, and none is decided after it.
    pub fn take_object_away(&mut self) -> Result<()> {
        let ep = self.ep.as_mut().ok_or(SimError::NotRunning("no episode to take the object from"))?;
        ep.world.take_object_away();
        ep.object_away = true;
        Ok(())
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
        for q in &ep.ctl.q_cmd {
            h.write_f64(*q);
        }
        h.write_f64(ep.ctl.gripper_cmd);
        for v in ep.ctl.target_pos.iter() {
            h.write_f64(*v);
        }
        h.write_f64(ep.ctl.target_yaw);
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
        self.reset_at(scenario, q0)
    }

    /// Starts an episode with the arm at `q0` (rad or m) instead of the scenario's start pose:
    /// the sim twin places a new object in front of an arm that stays where it is.
    pub fn reset_at(&mut self, scenario: &Scenario, q0: Vec<f64>) -> Result<Vec<f32>> {
        scenario.validate("scenario")?;
        if q0.len() != self.arm.dof() || !q0.iter().all(|v| v.is_finite()) {
            return Err(SimError::invalid(
                "arm pose",
                "q0",
                format!("{q0:?} is not a finite {}-joint pose", self.arm.dof()),
            ));
        }
        let world = SimWorld::build(&self.arm, &self.cfg, scenario, &q0);
        let tool = self.arm.chain.fk(&q0);
        let facts = object_facts(scenario);
        let ctl = ToolController::new(&self.arm, q0, scenario.arm_start.tool_yaw);
        let classifier = Classifier::new(self.cfg.outcome, facts, self.cfg.control_dt(), self.cfg.max_steps());
        let latency = scenario.sensing.action_latency as usize;
        let mut ep = Episode {
            scenario: *scenario,
            world,
            rng: ChaCha8Rng::seed_from_u64(scenario.seed),
            ctl,
            queue: std::iter::repeat_n(Action::HOLD_OPEN, latency).collect(),
            prev_action: Action::HOLD_OPEN,
            steps: 0,
            classifier,
            outcome: None,
            object_away: false,
            contacts: ContactReadings::default(),
            grip_force: 0.0,
            potential: 0.0,
            start_z: facts.start_pos[2],
            safety: EpisodeSafety::default(),
        };
        let start_distance =
            (tool.translation.vector - Vector3::new(facts.start_pos[0], facts.start_pos[1], facts.start_pos[2])).norm();
        ep.potential = self.cfg.reward.potential(start_distance, false, 0.0, self.cfg.outcome.success_lift);
        // Hold the start pose for the first physics update.
        let cmds: Vec<MotorCommand> =
            ep.ctl.q_cmd.iter().map(|&q| MotorCommand { position: q, velocity: 0.0 }).collect();
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
        let f = ep.world.gripper_positions();
        Some(Privileged {
            object: ep.world.object_pose(),
            tool: self.arm.chain.fk(&q),
            tool_target: ep.ctl.target_pos,
            tool_target_yaw: ep.ctl.target_yaw,
            tool_ceiling: self.cfg.workspace.max[2],
            gripper_opening: self.arm.gripper.opening(&f),
            gripper_positions: f[..self.arm.gripper.joint_count()].to_vec(),
            finger_contact: ep.contacts.finger_contact,
            grip_force: ep.grip_force,
            q,
            q_cmd: ep.ctl.q_cmd.clone(),
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

        let q_meas = ep.world.arm_positions();
        let targets = ep.ctl.plan(&arm, &cfg, &applied, &q_meas);
        self.advance(ep, targets, Some(applied), true)
    }

    /// Runs the physics for one control step towards `t` (interpolated from the last command)
    /// and classifies, rewards and observes. `applied` is the action behind the targets (none
    /// when the sim twin is driven by joint targets from a servo bus).
    /// With `torque` false the arm and finger motors are off (the twin of a disarmed arm): the
    /// joints move only under gravity and contacts, and the commands follow the measured pose.
    fn advance(&mut self, ep: &mut Episode, t: JointTargets, applied: Option<Action>, torque: bool) -> Step {
        let arm = Arc::clone(&self.arm);
        let cfg = Arc::clone(&self.cfg);
        let dt = cfg.control_dt();
        let (q_new, gripper_new, joint_at_limit) = (t.q, t.gripper, t.joint_at_limit);
        let n = cfg.substeps();
        let mut table_force: f64 = 0.0;
        let mut grip_force: f64 = 0.0;
        let mut finite = true;
        let force_scale = ep.scenario.physics.gripper_force_scale;
        let mut cmds = vec![MotorCommand { position: 0.0, velocity: 0.0 }; q_new.len()];
        let physics_start = std::time::Instant::now();
        for k in 1..=n {
            let a = k as f64 / n as f64;
            for ((c, &from), &to) in cmds.iter_mut().zip(&ep.ctl.q_cmd).zip(&q_new) {
                *c = MotorCommand { position: from + (to - from) * a, velocity: (to - from) / dt };
            }
            let jaw = MotorCommand {
                position: ep.ctl.gripper_cmd + (gripper_new - ep.ctl.gripper_cmd) * a,
                velocity: (gripper_new - ep.ctl.gripper_cmd) / dt,
            };
            if torque {
                ep.world.command_arm(&arm, &cfg, &cmds);
                ep.world.command_gripper(&arm, &cfg, &jaw, force_scale);
            } else {
                ep.world.relax_motors();
            }
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
        self.counters.physics_nanos += physics_start.elapsed().as_nanos() as u64;
        self.counters.physics_steps += n as u64;
        self.counters.control_steps += 1;
        if torque {
            ep.ctl.commit(&JointTargets { q: q_new, gripper: gripper_new, joint_at_limit });
        } else {
            let jaw = arm.gripper.jaw_position(&ep.world.gripper_positions());
            ep.ctl.commit(&JointTargets { q: ep.world.arm_positions(), gripper: jaw, joint_at_limit: None });
        }
        ep.steps += 1;
        ep.grip_force = grip_force;
        ep.safety.peak_table_force = ep.safety.peak_table_force.max(table_force);
        ep.safety.joint_limit_steps += joint_at_limit.is_some() as u32;

        let obj = ep.world.object_pose();
        let up = obj.rotation * ep.world.object_up_local;
        let q_after = ep.world.arm_positions();
        let opening = arm.gripper.opening(&ep.world.gripper_positions());
        let tool = arm.chain.fk(&q_after);
        let obj_speed = ep.world.object_velocity().norm();
        let signals = StepSignals {
            finite: finite && obj.translation.vector.iter().all(|v| v.is_finite()) && obj_speed.is_finite(),
            object_pos: [obj.translation.x, obj.translation.y, obj.translation.z],
            object_speed: if obj_speed.is_finite() { obj_speed } else { f64::INFINITY },
            object_tilt: up.z.clamp(-1.0, 1.0).acos(),
            tool_pos: [tool.translation.x, tool.translation.y, tool.translation.z],
            gripper_opening: opening,
            left_contact: ep.contacts.finger_contact[0],
            right_contact: ep.contacts.finger_contact[1],
            table_force,
            joint_at_limit,
        };
        // The sim twin keeps running after the outcome is decided; the first decision stands.
        // Nothing is judged once the operator has taken the object away.
        let outcome = if ep.outcome.is_none() && !ep.object_away { ep.classifier.update(&signals) } else { None };
        let distance = (tool.translation.vector - obj.translation.vector).norm();
        let held = Classifier::held(&signals);
        let lift = signals.object_pos[2] - ep.start_z;
        let norm = applied.map_or([0.0; 5], |a| a.to_normalized(&cfg.action));
        let action_sq: f64 = norm.iter().map(|v| (*v as f64) * (*v as f64)).sum();
        let potential = cfg.reward.potential(
            if distance.is_finite() { distance } else { 1.0 },
            held,
            if lift.is_finite() { lift } else { 0.0 },
            cfg.outcome.success_lift,
        );
        let reward = cfg.reward.reward(
            ep.potential,
            potential,
            action_sq,
            table_force / cfg.outcome.table_force,
            outcome.as_ref().map(|o| o.kind),
        );
        ep.potential = potential;
        if let Some(a) = applied {
            ep.prev_action = a;
        }
        if outcome.is_some() {
            ep.outcome = outcome.clone();
        }
        let obs = self.observe(ep);
        Step { obs, reward, done: outcome.is_some(), outcome }
    }

    fn observe(&self, ep: &mut Episode) -> Vec<f32> {
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
        // Draw order (joints, then the object's x, y, z) is part of the replay contract.
        let mut q = ep.world.arm_positions();
        for v in q.iter_mut() {
            *v += noise(&mut ep.rng);
        }
        let object_noise = [noise(&mut ep.rng), noise(&mut ep.rng), noise(&mut ep.rng)];
        let qd = ep.world.arm_velocities();
        let opening = self.arm.gripper.opening(&ep.world.gripper_positions());
        build_observation(
            self.layout,
            &self.arm,
            &ObsInputs {
                q: &q,
                qd: &qd,
                gripper_opening: opening,
                object: ep.world.object_pose(),
                object_noise,
                scenario: &ep.scenario,
                finger_contact: ep.contacts.finger_contact,
                prev_action: ep.prev_action.to_normalized(&self.cfg.action),
            },
        )
    }

    /// Advances the sim twin one control step towards joint targets from a servo bus (rad or
    /// m; `gripper` is the jaw target, see [`JointTargets::gripper`]), interpolating from the
    /// last command as [`Self::step`] does. The physics keeps running after the outcome is decided
    /// (a physical arm does not stop existing); the first outcome stands. With `torque` false
    /// the motors are off and the targets are ignored.
    pub fn step_targets(&mut self, q: &[f64], gripper: f64, torque: bool) -> Result<Step> {
        if q.len() != self.arm.dof() || !q.iter().all(|v| v.is_finite()) || !gripper.is_finite() {
            self.counters.rejected_actions += 1;
            return Err(SimError::invalid(
                "joint targets",
                "q",
                format!("{q:?} / {gripper} is not a finite {}-joint command", self.arm.dof()),
            ));
        }
        let Some(mut ep) = self.ep.take() else { return Err(SimError::NotRunning("call reset first")) };
        let t = JointTargets { q: q.to_vec(), gripper, joint_at_limit: None };
        let step = self.advance(&mut ep, t, None, torque);
        self.ep = Some(ep);
        Ok(step)
    }
}
