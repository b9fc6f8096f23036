//! One physical episode: pre-flight in the sim twin, then the run loop at its own clock
//! (default 50 Hz): read the freshest state → observation → policy (at the policy's own control
//! rate, 20 Hz by default, with targets interpolated in between as in training) → IK → safety
//! envelope → send. A stale state, missed deadlines, an arm fault, a policy error or the
//! operator's stop flag (Ctrl-C, the e-stop key) stop the arm at once.
//!
//! The observation is built by the simulator's own [`build_observation`] from measured joints,
//! finger contact judged from the gripper's load, and an [`ObjectSensor`]: a tracking camera
//! where there is one (in emulation, [`crate::twin::TwinCamera`]), or [`ObjectEstimate`]'s dead
//! reckoning — the object where the operator placed it until the gripper closes on it, then
//! carried with the tool — on a desktop arm without one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use regrasp_curriculum::run::Certified;
use regrasp_policy::eval::{LoadedPolicy, evaluate};
use regrasp_policy::inference::Scratch;
use regrasp_sim::control::{JointTargets, ObsInputs, ToolController, build_observation};
use regrasp_sim::scripted::width_along;
use regrasp_sim::world::object_rest_rotation;
use regrasp_sim::{Action, ArmModel, EnvConfig, ObsLayout, OutcomeKind, Scenario};
use serde::{Deserialize, Serialize};

use crate::arm::{Arm, ArmState, Guarded, JointCommand};
use crate::envelope::intervention_names;
use crate::error::{HardwareError, Result};

/// The run loop's settings (units in the names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Control loop rate (Hz): state read, envelope check and one command per tick.
    pub rate_hz: f64,
    /// A state older than this stops the arm (ms).
    pub stale_state_ms: f64,
    /// This many late ticks in a row stop the arm (a tick is late when it starts more than
    /// one period after its deadline).
    pub max_late_ticks: u32,
    /// Longest episode (s).
    pub episode_s: f64,
    /// Gripper load above which the fingers count as touching the object (fraction of rated).
    pub contact_load: f64,
    /// The host judges the object lifted once the tool has risen this far (m) since the
    /// fingers closed on the object and stayed up, touching, for the simulator's success time
    /// plus 0.2 s. It is below the simulator's own bar (the task's success lift, held for 1 s)
    /// because the host sees only the tool; the episode then goes on for `after_lift_s`.
    pub lifted_m: f64,
    /// The policy keeps control this long after the host judged the object lifted (s), so that
    /// the operator (or the sim twin's classifier) sees the object held.
    pub after_lift_s: f64,
    /// The arm is stopped when its tool has been blocked this long (s): the tool where the sent
    /// joint targets put it at least [`STALL_LEAD_FRACTION`] of the action's `max_target_lead`
    /// ahead of the measured tool while it moves less than [`STALL_MOTION_FRACTION`] of that
    /// lead, or turned at least [`STALL_ANGLE_LEAD_RAD`] from it while it turns less than
    /// [`STALL_ANGLE_MOTION_RAD`], or a joint's target at least [`STALL_JOINT_LEAD_RAD`] from it
    /// while it moves less than [`STALL_JOINT_MOTION_RAD`]: the motion asked for against the
    /// motion made, which the servos alone cannot judge (a blocked joint and a joint holding a
    /// load look the same to them).
    pub stall_s: f64,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            rate_hz: 50.0,
            stale_state_ms: 100.0,
            max_late_ticks: 3,
            episode_s: 12.0,
            contact_load: 0.03,
            lifted_m: 0.08,
            after_lift_s: 3.0,
            stall_s: 0.5,
        }
    }
}

impl RunConfig {
    /// The defaults for an arm whose task is judged by `env`: the host calls the object lifted
    /// at 80 % of the task's success lift (arm5: 0.08 of 0.10 m; the SO-101: 0.024 of 0.03 m).
    pub fn for_task(env: &regrasp_sim::EnvConfig) -> Self {
        Self { lifted_m: 0.8 * env.outcome.success_lift, ..Self::default() }
    }

    /// Refuses settings that make no sense.
    pub fn validate(&self) -> Result<()> {
        let bad = |w: &str| Err(HardwareError::Config(format!("run config: {w}")));
        if !(self.rate_hz >= 1.0 && self.rate_hz <= 1000.0) {
            return bad("rate_hz must be in [1, 1000] Hz");
        }
        if !(self.stale_state_ms > 0.0 && self.stale_state_ms.is_finite()) {
            return bad("stale_state_ms must be positive");
        }
        if !(self.episode_s > 0.0 && self.episode_s.is_finite()) {
            return bad("episode_s must be positive");
        }
        if !(self.contact_load > 0.0 && self.contact_load < 1.0) {
            return bad("contact_load must be in (0, 1)");
        }
        if !(self.lifted_m > 0.0 && self.lifted_m < 1.0) {
            return bad("lifted_m must be in (0, 1) m");
        }
        if !(self.after_lift_s >= 0.0 && self.after_lift_s <= 60.0) {
            return bad("after_lift_s must be in [0, 60] s");
        }
        if !(self.stall_s > 0.0 && self.stall_s <= 600.0) {
            return bad("stall_s must be in (0, 600] s");
        }
        Ok(())
    }

    /// The control period.
    pub fn period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate_hz)
    }
}

/// The run loop's time: the wall clock on an arm, a simulated clock in lockstep
/// ([`crate::lockstep`]), where waiting is what advances the arm's simulation.
pub trait Clock {
    /// Now.
    fn now(&mut self) -> Instant;
    /// Waits until `deadline`, watching `stop`; returns true if `stop` was raised first.
    fn wait_until(&mut self, deadline: Instant, stop: &AtomicBool) -> bool;
}

/// The wall clock: sleeps in steps of at most 1 ms (watching the stop flag, so that an
/// operator stop goes out within about 1 ms) and spins the last 200 µs.
#[derive(Clone, Copy, Debug, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&mut self) -> Instant {
        Instant::now()
    }

    fn wait_until(&mut self, deadline: Instant, stop: &AtomicBool) -> bool {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            if stop.load(Ordering::SeqCst) {
                return true;
            }
            let left = deadline - now;
            if left > Duration::from_micros(300) {
                std::thread::sleep((left - Duration::from_micros(200)).min(Duration::from_millis(1)));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Whatever chooses actions from observations.
pub trait Pilot {
    /// The action for `obs`; an error (a non-finite output) stops the arm.
    fn act(&mut self, obs: &[f32], env: &EnvConfig) -> Result<Action>;
}

/// A certified policy as a pilot: deterministic actions, no autodiff. It takes only a
/// [`Certified`] policy, which only the certificate rule (`RunDir::certify`) produces, so no
/// other policy can drive an arm through it.
pub struct PolicyPilot {
    certified: Certified,
    scratch: Scratch,
}

impl PolicyPilot {
    /// Wraps a certified policy.
    pub fn new(certified: Certified) -> Self {
        Self { certified, scratch: Scratch::default() }
    }

    /// The policy and its certificate.
    pub fn certified(&self) -> &Certified {
        &self.certified
    }
}

impl Pilot for PolicyPilot {
    fn act(&mut self, obs: &[f32], env: &EnvConfig) -> Result<Action> {
        self.certified
            .policy()
            .act(obs, &env.action, &mut self.scratch)
            .map_err(|e| HardwareError::Policy(e.to_string()))
    }
}

/// Where the object is, as the host can know it.
pub trait ObjectSensor {
    /// The object's pose (m, world), given the tool pose from the measured joints, whether
    /// the fingers press on the object, and the measured opening between the pads (m).
    fn object_pose(&mut self, tool: &Isometry3<f64>, touching: bool, opening: f64) -> Isometry3<f64>;
}

/// Dead reckoning, for an arm without an object sensor: the object is where the operator
/// placed it (the scenario's pose) until the gripper clamps it, then carried by the tool.
///
/// Two facts of a gripper keep the estimate honest, both measured from the joints. Whatever
/// the pads press on lies between them: along the closing direction its centre stays at least
/// half its width inside each pad's face, so an object the closing jaw sweeps across is
/// followed. And only an object clamped between both pads (the pads no further apart than its
/// width plus [`CLAMP_SLACK_M`]) is carried: a jaw that brushes the object from above or the
/// side presses on it too, but cannot lift it; and an object let go rests on the table again.
#[derive(Clone, Debug)]
pub struct ObjectEstimate {
    /// Object pose (m, world).
    pub pose: Isometry3<f64>,
    /// The object's pose in the tool frame while clamped.
    held: Option<Isometry3<f64>>,
    /// Height (m) of the object's centre at rest on the table.
    rest_z: f64,
    /// The object's shape (its width across the pads).
    shape: regrasp_sim::scenario::Shape,
    /// The gripper (where its pads are).
    gripper: regrasp_sim::gripper::Gripper,
}

/// How much wider than the object (m) the pads may stand and still count as clamping it:
/// the clearance of a jaw that has closed on the object, not of one still sweeping towards it.
pub const CLAMP_SLACK_M: f64 = 0.004;

impl ObjectEstimate {
    /// The object at rest where `scenario` places it, in front of `model`'s gripper.
    pub fn placed(scenario: &Scenario, model: &ArmModel) -> Self {
        let (rot, _) = object_rest_rotation(scenario);
        let rest_z = scenario.rest_height();
        let pose =
            Isometry3::from_parts(Translation3::new(scenario.object.pose.x, scenario.object.pose.y, rest_z), rot);
        Self { pose, held: None, rest_z, shape: scenario.object.shape, gripper: model.gripper.clone() }
    }
}

impl ObjectSensor for ObjectEstimate {
    fn object_pose(&mut self, tool: &Isometry3<f64>, touching: bool, opening: f64) -> Isometry3<f64> {
        let mut rel = self.held.unwrap_or_else(|| tool.inverse() * self.pose);
        let width = width_along(&self.shape, &rel.rotation, &Vector3::y());
        let clamped = touching && opening <= width + CLAMP_SLACK_M;
        if !clamped && self.held.take().is_some() {
            // Let go (or slipped out): it rests on the table below where it was.
            self.pose.translation.z = self.rest_z;
            rel = tool.inverse() * self.pose;
        }
        if !touching {
            return self.pose;
        }
        // Between the pads: the centre at least half the width inside each face (the middle,
        // when the pads stand closer than the width, as they do squeezing it).
        let (lo, hi) = self.gripper.pad_faces(opening);
        let (lo, hi) = (lo + 0.5 * width, hi - 0.5 * width);
        let y = &mut rel.translation.vector.y;
        *y = if lo <= hi { y.clamp(lo, hi) } else { 0.5 * (lo + hi) };
        let pose = tool * rel;
        if clamped {
            self.held = Some(rel);
            self.pose = pose;
        } else {
            // Pushed across the table by one pad: it moves sideways, not up.
            self.pose.translation.vector.x = pose.translation.x;
            self.pose.translation.vector.y = pose.translation.y;
        }
        self.pose
    }
}

/// The host's view of the grasp: debounced finger contact from the gripper load, the tool's
/// rise since the fingers closed, and how long it has been held up.
#[derive(Clone, Debug, Default)]
struct GraspWatch {
    touching: bool,
    /// Time the load was last above the contact threshold (s).
    last_load_s: f64,
    /// Tool height when the fingers closed (m).
    grasp_z: Option<f64>,
    /// Time since when the tool has been up by `lifted_m` while touching (s).
    held_since: Option<f64>,
    /// Highest rise while touching (m).
    max_lift: f64,
}

/// Contact drops out only after the load stayed under the threshold this long (s).
const CONTACT_RELEASE_S: f64 = 0.1;

impl GraspWatch {
    /// Returns (touching, lifted-and-held-long-enough).
    fn update(
        &mut self,
        t: f64,
        load: f64,
        tool_z: f64,
        contact_load: f64,
        lifted_m: f64,
        hold_s: f64,
    ) -> (bool, bool) {
        if load >= contact_load {
            self.last_load_s = t;
            self.touching = true;
        } else if self.touching && t - self.last_load_s > CONTACT_RELEASE_S {
            self.touching = false;
        }
        if !self.touching {
            self.grasp_z = None;
            self.held_since = None;
            return (false, false);
        }
        let lift = tool_z - *self.grasp_z.get_or_insert(tool_z);
        self.max_lift = self.max_lift.max(lift);
        if lift >= lifted_m {
            let since = *self.held_since.get_or_insert(t);
            (true, t - since >= hold_s)
        } else {
            self.held_since = None;
            (true, false)
        }
    }
}

/// Extra hold time the host waits beyond the simulator's success time (s).
const HOLD_MARGIN_S: f64 = 0.2;

/// The tool counts as held back when the sent targets put it at least this fraction of the
/// action's `max_target_lead` ahead of where it is (the controller's lead pinned near its cap).
pub const STALL_LEAD_FRACTION: f64 = 0.4;

/// ... and blocked when, meanwhile, it moved less than this fraction of `max_target_lead`.
pub const STALL_MOTION_FRACTION: f64 = 0.2;

/// The tool's orientation counts as held back when the sent targets turn it at least this far
/// from the measured tool (rad, 20°) ...
pub const STALL_ANGLE_LEAD_RAD: f64 = 0.35;

/// ... and blocked when, meanwhile, it turned less than this (rad, about 3°).
pub const STALL_ANGLE_MOTION_RAD: f64 = 0.05;

/// A joint counts as held back when its sent target leads its measured position by at least
/// this (rad, about 9°) ...
pub const STALL_JOINT_LEAD_RAD: f64 = 0.15;

/// ... and blocked when, meanwhile, it moved less than this (rad, about 2°).
pub const STALL_JOINT_MOTION_RAD: f64 = 0.03;

/// How long one quantity (the tool's position or orientation, or one joint) has been blocked:
/// its target pinned ahead while it does not follow.
#[derive(Clone, Copy, Debug, Default)]
struct Blocked<T> {
    /// Since when (s), and the quantity's value then.
    since: Option<(f64, T)>,
}

impl<T: Copy> Blocked<T> {
    /// Updates at time `t` (s) with the quantity's value `now`: `held_back` whether its target
    /// leads it by the threshold, `moved` whether it went far enough from the value kept to
    /// count as following. Returns how long it has been blocked (s).
    fn update(&mut self, t: f64, now: T, held_back: bool, moved: impl Fn(&T) -> bool) -> f64 {
        if !held_back {
            self.since = None;
            return 0.0;
        }
        let (t0, at) = *self.since.get_or_insert((t, now));
        if moved(&at) {
            self.since = Some((t, now));
            return 0.0;
        }
        t - t0
    }
}

/// How long the arm has been blocked: the tool in position (its target pinned ahead while it
/// does not move) or in orientation (its target turned away while it does not turn), or any one
/// joint (its target led away while it does not move), each watched on its own, so a wrist that
/// still turns does not hide an arm that no longer moves, and joints that make up a stalled
/// one's loss in the tool's pose do not hide it.
#[derive(Clone, Debug, Default)]
struct StallWatch {
    position: Blocked<Vector3<f64>>,
    orientation: Blocked<UnitQuaternion<f64>>,
    joints: Vec<Blocked<f64>>,
    /// Longest time blocked so far (s).
    longest_s: f64,
    /// At the last update, how far the target led the tool (m) and turned from it (rad).
    lead: (f64, f64),
    /// At the last update, the joint whose target led it furthest, and by how much (rad).
    joint_lead: (usize, f64),
}

impl StallWatch {
    /// Updates at time `t` (s) with the sent joint targets `sent` and the measured joints
    /// `measured` (rad), and where each puts the tool (`target`, `tool`: world poses, m);
    /// `max_lead` is the action's `max_target_lead` (m). Returns how long the arm has been
    /// blocked (s): the longest of the tool's position, its orientation and each joint.
    fn update(
        &mut self,
        t: f64,
        (sent, target): (&[f64], &Isometry3<f64>),
        (measured, tool): (&[f64], &Isometry3<f64>),
        max_lead: f64,
    ) -> f64 {
        let p = tool.translation.vector;
        let lead_m = (target.translation.vector - p).norm();
        let in_position = self.position.update(t, p, lead_m >= STALL_LEAD_FRACTION * max_lead, |at| {
            (p - at).norm() >= STALL_MOTION_FRACTION * max_lead
        });
        let r = tool.rotation;
        let lead_rad = target.rotation.angle_to(&r);
        let in_orientation = self
            .orientation
            .update(t, r, lead_rad >= STALL_ANGLE_LEAD_RAD, |at| r.angle_to(at) >= STALL_ANGLE_MOTION_RAD);
        self.joints.resize_with(measured.len(), Blocked::default);
        let mut in_joint: f64 = 0.0;
        self.joint_lead = (0, 0.0);
        for (j, ((blocked, &q), &q_sent)) in self.joints.iter_mut().zip(measured).zip(sent).enumerate() {
            let lead = (q_sent - q).abs();
            in_joint = in_joint
                .max(blocked.update(t, q, lead >= STALL_JOINT_LEAD_RAD, |at| (q - at).abs() >= STALL_JOINT_MOTION_RAD));
            if lead > self.joint_lead.1 {
                self.joint_lead = (j, lead);
            }
        }
        self.lead = (lead_m, lead_rad);
        let blocked = in_position.max(in_orientation).max(in_joint);
        self.longest_s = self.longest_s.max(blocked);
        blocked
    }
}

/// Why the run loop stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum StopReason {
    /// The host judged the object lifted and held for the success time.
    Lifted,
    /// The episode's time ran out.
    Timeout,
    /// The operator stopped it (Ctrl-C, the e-stop key).
    Operator,
    /// The freshest state was older than the limit.
    StaleState {
        /// Its age (ms).
        age_ms: f64,
    },
    /// Ticks started late too many times in a row.
    LateTicks {
        /// How many.
        count: u32,
    },
    /// The arm reported a fault or dropped its torque.
    ArmFault {
        /// Its fault flags.
        faults: u16,
    },
    /// The envelope (in stop mode) refused a command.
    Envelope {
        /// Which limits.
        what: String,
    },
    /// The policy failed (non-finite output).
    Policy {
        /// The error.
        error: String,
    },
    /// The link failed.
    Link {
        /// The error.
        error: String,
    },
    /// The tool was blocked: the policy kept asking for motion the arm did not make.
    Stall {
        /// How long (s).
        seconds: f64,
        /// How far the tool target led the measured tool when stopped (m).
        lead_m: f64,
        /// How far the tool target's orientation led the measured tool's when stopped (rad).
        #[serde(default)]
        lead_rad: f64,
        /// The joint whose target led its measured position furthest when stopped (0-based).
        #[serde(default)]
        joint: usize,
        /// How far that joint's target led it (rad).
        #[serde(default)]
        joint_lead_rad: f64,
    },
}

impl StopReason {
    /// The reason in words; an arm fault names its flags.
    pub fn describe(&self) -> String {
        match self {
            StopReason::ArmFault { faults } => {
                let names: Vec<&str> = regrasp_firmware::protocol::fault::names(*faults).collect();
                format!("arm fault: {}", if names.is_empty() { "torque dropped".to_string() } else { names.join(", ") })
            }
            other => format!("{other:?}"),
        }
    }

    /// Whether the arm was stopped for safety (everything but a normal end).
    pub fn is_safety_stop(&self) -> bool {
        !matches!(self, StopReason::Lifted | StopReason::Timeout)
    }
}

/// One tick, for loggers.
#[derive(Clone, Debug)]
pub struct TickRecord {
    /// Tick number.
    pub tick: u64,
    /// Time since the loop started (s).
    pub elapsed_s: f64,
    /// Joint targets sent (rad or m), gripper last.
    pub commanded: Vec<f64>,
    /// Joint positions measured (rad or m), gripper last.
    pub measured: Vec<f64>,
    /// Envelope intervention flags of this tick.
    pub interventions: u32,
}

/// What an episode on the arm measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpisodeReport {
    /// Why it ended.
    pub stop: StopReason,
    /// Control ticks run.
    pub ticks: u64,
    /// Policy decisions taken.
    pub decisions: u64,
    /// Wall time (s).
    pub seconds: f64,
    /// Lateness of each tick's start against its deadline: (p50, p99, max) (µs).
    pub tick_lateness_us: [u64; 3],
    /// Envelope check time per tick: (p50, p99, max) (µs).
    pub envelope_us: [f64; 3],
    /// Interventions per envelope flag, by name.
    pub interventions: Vec<(String, u64)>,
    /// Largest gripper load seen (fraction of rated).
    pub max_gripper_load: f64,
    /// Gripper opening at the end (m).
    pub final_gripper: f64,
    /// Height the tool rose above its lowest point while the fingers touched (m).
    pub held_lift: f64,
    /// Longest time the tool was blocked (s; see [`RunConfig::stall_s`]).
    #[serde(default)]
    pub longest_block_s: f64,
}

/// The median, the 99th percentile and the maximum of `v` (zeros when empty).
pub(crate) fn quantiles<T: Copy + Default + PartialOrd>(mut v: Vec<T>) -> [T; 3] {
    if v.is_empty() {
        return [T::default(); 3];
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let at = |q: usize| v[(v.len() * q / 100).min(v.len() - 1)];
    [at(50), at(99), v[v.len() - 1]]
}

/// The pre-flight verdict.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Preflight {
    /// The simulated outcome of the scenario under the policy.
    pub outcome: OutcomeKind,
    /// Peak arm–table force in the simulation (N).
    pub peak_table_force: f64,
    /// Peak contact force in the simulation (N).
    pub peak_contact_force: f64,
}

/// Runs `scenario` in simulation with `policy` first; a predicted failure, or a contact force
/// above `max_contact_force` (N), aborts the physical episode with the reason.
pub fn preflight(
    policy: &LoadedPolicy,
    arm: &Arc<ArmModel>,
    env: &Arc<EnvConfig>,
    scenario: &Scenario,
    max_contact_force: f64,
) -> Result<Preflight> {
    let (_, records) = evaluate(policy, arm, env, "preflight", std::slice::from_ref(scenario), &|| {})
        .map_err(|e| HardwareError::Policy(e.to_string()))?;
    let r = records.first().ok_or_else(|| HardwareError::Policy("pre-flight produced no episode".into()))?;
    let p = Preflight {
        outcome: r.outcome.kind,
        peak_table_force: r.metrics.safety.peak_table_force,
        peak_contact_force: r.metrics.safety.peak_contact_force,
    };
    if p.outcome != OutcomeKind::Success {
        return Err(HardwareError::Preflight(format!(
            "the sim twin predicts {:?}: {}",
            p.outcome, r.outcome.evidence.note
        )));
    }
    if p.peak_contact_force > max_contact_force {
        return Err(HardwareError::Preflight(format!(
            "the sim twin predicts a contact force of {:.1} N, over the {max_contact_force:.1} N limit",
            p.peak_contact_force
        )));
    }
    Ok(p)
}

/// Runs one episode of `scenario` on `arm` with `pilot`, the object seen by `sensor`, on
/// `clock`'s time, until the object is lifted and held, the time runs out, or a safety stop. The arm is stopped (e-stop) on every safety stop; on a normal end it
/// is left holding its pose (the firmware's watchdog holds, then drops torque, if nothing
/// follows).
pub fn run_episode<A: Arm>(
    guarded: &mut Guarded<A>,
    pilot: &mut dyn Pilot,
    model: &ArmModel,
    env: &EnvConfig,
    scenario: &Scenario,
    sensor: &mut dyn ObjectSensor,
    cfg: &RunConfig,
    clock: &mut dyn Clock,
    stop: &AtomicBool,
    on_tick: &mut dyn FnMut(&TickRecord),
) -> Result<EpisodeReport> {
    cfg.validate()?;
    let period = cfg.period();
    let policy_dt = env.control_dt();
    let layout = ObsLayout::new(model.dof());
    let first = guarded.restart()?;
    let mut ctl = ToolController::new(model, first.positions.clone(), scenario.arm_start.tool_yaw);
    let mut prev_action = Action::HOLD_OPEN;
    // The segment being interpolated: from the previous decision's targets to this one's.
    let jaw = model.gripper.jaw_from_servo(first.gripper);
    let mut from = JointTargets { q: first.positions.clone(), gripper: jaw, joint_at_limit: None };
    let mut to = from.clone();
    let start = clock.now();
    let mut deadline = start;
    let mut next_decision = 0.0f64;
    let mut decision_at = 0.0f64;
    let (mut ticks, mut decisions, mut late_run) = (0u64, 0u64, 0u32);
    let mut lateness = Vec::new();
    let mut envelope_us = Vec::new();
    let mut max_load: f64 = 0.0;
    let mut watch = GraspWatch::default();
    let mut stall = StallWatch::default();
    let mut lifted_at: Option<f64> = None;
    let mut final_gripper = first.gripper;
    let success_hold = env.outcome.success_hold;
    let reason = loop {
        if clock.wait_until(deadline, stop) {
            break StopReason::Operator;
        }
        let tick_start = clock.now();
        let late = tick_start.duration_since(deadline);
        lateness.push(late.as_micros() as u64);
        late_run = if late > period { late_run + 1 } else { 0 };
        deadline += period;
        let t = tick_start.duration_since(start).as_secs_f64();
        if stop.load(Ordering::SeqCst) {
            break StopReason::Operator;
        }
        if late_run >= cfg.max_late_ticks {
            break StopReason::LateTicks { count: late_run };
        }
        let state: ArmState = match guarded.arm().latest_state() {
            Ok(s) => s,
            Err(e) => break StopReason::Link { error: e.to_string() },
        };
        let age_ms = state.received.map_or(0.0, |r| tick_start.saturating_duration_since(r).as_secs_f64() * 1e3);
        if age_ms > cfg.stale_state_ms {
            break StopReason::StaleState { age_ms };
        }
        if state.faults & regrasp_firmware::protocol::fault::LATCHING != 0 || !state.armed {
            break StopReason::ArmFault { faults: state.faults };
        }
        if state.positions.len() != model.dof() || !state.positions.iter().all(|v| v.is_finite()) {
            break StopReason::Link {
                error: format!("state with {} joints or non-finite values", state.positions.len()),
            };
        }
        final_gripper = state.gripper;
        max_load = max_load.max(state.gripper_load);
        let tool = model.chain.fk(&state.positions);
        // A margin over the simulator's hold time, so that the host never ends an episode that
        // the simulator's classifier would still be timing.
        let (touching, lifted) = watch.update(
            t,
            state.gripper_load,
            tool.translation.z,
            cfg.contact_load,
            cfg.lifted_m,
            success_hold + HOLD_MARGIN_S,
        );
        let opening = model.gripper.servo_opening(state.gripper);
        let object = sensor.object_pose(&tool, touching, opening);
        if lifted && lifted_at.is_none() {
            lifted_at = Some(t);
        }
        if lifted_at.is_some_and(|l| t - l >= cfg.after_lift_s) {
            break StopReason::Lifted;
        }
        if t >= cfg.episode_s {
            break if lifted_at.is_some() { StopReason::Lifted } else { StopReason::Timeout };
        }
        // A policy decision when its control period comes round.
        if t + 1e-9 >= next_decision {
            let obs = build_observation(
                layout,
                model,
                &ObsInputs {
                    q: &state.positions,
                    qd: &state.velocities,
                    gripper_opening: opening,
                    object,
                    object_noise: [0.0; 3],
                    scenario,
                    finger_contact: [touching, touching],
                    prev_action: prev_action.to_normalized(&env.action),
                },
            );
            let action = match pilot.act(&obs, env) {
                Ok(a) => a.clipped(&env.action),
                Err(e) => break StopReason::Policy { error: e.to_string() },
            };
            let planned = ctl.plan(model, env, &action, &state.positions);
            ctl.commit(&planned);
            from = interpolate(&from, &to, ((t - decision_at) / policy_dt).clamp(0.0, 1.0));
            to = planned;
            decision_at = t;
            next_decision += policy_dt;
            prev_action = action;
            decisions += 1;
        }
        let cmd_t = interpolate(&from, &to, ((t - decision_at) / policy_dt).clamp(0.0, 1.0));
        let proposed =
            JointCommand { positions: cmd_t.q.clone(), gripper: model.gripper.servo_from_jaw(cmd_t.gripper) };
        let e0 = Instant::now();
        let verdict = guarded.command(&proposed, state.gripper_load);
        envelope_us.push(e0.elapsed().as_secs_f64() * 1e6);
        let verdict = match verdict {
            Ok(v) => v,
            Err(HardwareError::EnvelopeStop(what)) => break StopReason::Envelope { what },
            Err(e) => break StopReason::Link { error: e.to_string() },
        };
        let mut commanded = verdict.command.as_ref().map(|c| c.positions.clone()).unwrap_or_default();
        commanded.push(verdict.command.as_ref().map_or(f64::NAN, |c| c.gripper));
        let mut measured = state.positions.clone();
        measured.push(state.gripper);
        // The motion asked of the arm (where the sent targets put the tool) against the motion
        // it made.
        let blocked_s = verdict.command.as_ref().map_or(0.0, |c| {
            let asked = model.chain.fk(&c.positions);
            stall.update(t, (&c.positions, &asked), (&state.positions, &tool), env.action.max_target_lead)
        });
        on_tick(&TickRecord { tick: ticks, elapsed_s: t, commanded, measured, interventions: verdict.interventions });
        ticks += 1;
        if blocked_s >= cfg.stall_s {
            let ((lead_m, lead_rad), (joint, joint_lead_rad)) = (stall.lead, stall.joint_lead);
            break StopReason::Stall { seconds: blocked_s, lead_m, lead_rad, joint, joint_lead_rad };
        }
    };
    if reason.is_safety_stop() {
        // Stop first, report after: the e-stop frame goes out before anything else.
        let _ = guarded.stop();
    }
    let counts = guarded.envelope().counts;
    let names = intervention_names(u32::MAX);
    Ok(EpisodeReport {
        stop: reason,
        ticks,
        decisions,
        seconds: clock.now().duration_since(start).as_secs_f64(),
        tick_lateness_us: quantiles(lateness),
        envelope_us: quantiles(envelope_us),
        interventions: names.iter().zip(counts).map(|(n, c)| (n.to_string(), c)).collect(),
        max_gripper_load: max_load,
        final_gripper,
        held_lift: watch.max_lift,
        longest_block_s: stall.longest_s,
    })
}

fn interpolate(a: &JointTargets, b: &JointTargets, s: f64) -> JointTargets {
    JointTargets {
        q: a.q.iter().zip(&b.q).map(|(x, y)| x + (y - x) * s).collect(),
        gripper: a.gripper + (b.gripper - a.gripper) * s,
        joint_at_limit: b.joint_at_limit,
    }
}

/// Homes the arm to `scenario`'s start pose (as `sim`, the simulation of this arm, starts it)
/// with the gripper opening first at half its speed: the ready pose before a trial, through
/// [`move_to`].
pub fn move_to_start<A: Arm>(
    guarded: &mut Guarded<A>,
    sim: &regrasp_sim::GraspEnv,
    scenario: &Scenario,
    cfg: &RunConfig,
    clock: &mut dyn Clock,
    stop: &AtomicBool,
) -> Result<()> {
    let home = sim.start_configuration(scenario, "scenario")?;
    let gripper = &sim.arm().gripper;
    move_to(guarded, &home, gripper.servo_from_jaw(gripper.open), 0.5 * gripper.servo_speed(), cfg, clock, stop)
}

/// Homing speed of every joint (rad/s or m/s): slow enough for any arm.
pub const HOMING_SPEED: f64 = 0.5;

/// Homing gives up after this long without arriving (s).
pub const HOMING_LIMIT_S: u64 = 20;

/// A joint has arrived when it is within this of its homing target (rad or m).
pub const HOMING_TOLERANCE: f64 = 0.01;

/// Moves the arm to `target` (rad or m) with the gripper at `gripper` (servo units: m or rad)
/// at the loop's rate and through the envelope: the ready pose before an episode. The gripper
/// goes first, at `gripper_speed` (servo units/s) with the arm held, so that whatever the
/// last episode left in it is let go where it is rather than carried home (a carried object
/// pressed into the table blocks the arm); then the joints, at [`HOMING_SPEED`]. Returns once
/// every joint is within [`HOMING_TOLERANCE`] of its target; a stop, a fault or
/// [`HOMING_LIMIT_S`] without arriving is an error.
pub fn move_to<A: Arm>(
    guarded: &mut Guarded<A>,
    target: &[f64],
    gripper: f64,
    gripper_speed: f64,
    cfg: &RunConfig,
    clock: &mut dyn Clock,
    stop: &AtomicBool,
) -> Result<()> {
    cfg.validate()?;
    let period = cfg.period();
    let step = HOMING_SPEED * period.as_secs_f64();
    let state = guarded.restart()?;
    if target.len() != state.positions.len() || !target.iter().all(|v| v.is_finite()) {
        return Err(HardwareError::Config(format!(
            "home pose {target:?} is not a finite {}-joint pose",
            state.positions.len()
        )));
    }
    let mut q = state.positions.clone();
    let mut g = state.gripper;
    let start = clock.now();
    let mut deadline = start;
    loop {
        deadline += period;
        if clock.wait_until(deadline, stop) || stop.load(Ordering::SeqCst) {
            let _ = guarded.stop();
            return Err(HardwareError::Config("homing stopped by the operator".into()));
        }
        let s = guarded.arm().latest_state()?;
        if s.faults & regrasp_firmware::protocol::fault::LATCHING != 0 || !s.armed {
            let _ = guarded.stop();
            return Err(HardwareError::Refused {
                command: "homing".into(),
                status: format!(
                    "arm fault flags {:#x}: {} (joint loads {:.2?}, gripper load {:.2}, positions {:.3?})",
                    s.faults,
                    regrasp_firmware::protocol::fault::names(s.faults).collect::<Vec<_>>().join(", "),
                    s.loads,
                    s.gripper_load,
                    s.positions
                ),
            });
        }
        let arrived = s.positions.iter().zip(target).all(|(m, t)| (m - t).abs() < HOMING_TOLERANCE);
        if arrived && g == gripper {
            return Ok(());
        }
        if clock.now().duration_since(start) > Duration::from_secs(HOMING_LIMIT_S) {
            let _ = guarded.stop();
            let short: Vec<String> = s
                .positions
                .iter()
                .zip(target)
                .zip(&s.loads)
                .enumerate()
                .filter(|(_, ((m, t), _))| (*m - *t).abs() >= HOMING_TOLERANCE)
                .map(|(j, ((m, t), l))| format!("joint {j} at {m:.3} rad, target {t:.3}, load {l:.2}"))
                .collect();
            let detail =
                if short.is_empty() { format!("the gripper at {g:.3}, target {gripper:.3}") } else { short.join("; ") };
            return Err(HardwareError::NotReached { what: "homing".into(), seconds: HOMING_LIMIT_S, detail });
        }
        let gripper_step = gripper_speed * period.as_secs_f64();
        if g != gripper {
            g += (gripper - g).clamp(-gripper_step, gripper_step);
        } else {
            for (c, t) in q.iter_mut().zip(target) {
                *c += (t - *c).clamp(-step, step);
            }
        }
        guarded.command(&JointCommand { positions: q.clone(), gripper: g }, s.gripper_load)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Vector3;
    use regrasp_sim::kinematics::top_down_rotation;

    /// The SO-101, a scenario's object placed in front of it, and the tool straight above the
    /// object's centre at `height` (m) with the closing direction along the object's width.
    fn setup() -> (ArmModel, ObjectEstimate, f64) {
        let model = ArmModel::named("so101").unwrap();
        let scenario = (0..50)
            .map(|s| model.task.distribution.sample(s))
            .find(|s| matches!(s.object.shape, regrasp_sim::scenario::Shape::Box { .. }))
            .unwrap();
        let est = ObjectEstimate::placed(&scenario, &model);
        let width = width_along(&est.shape, &est.pose.rotation, &(top_down_rotation(0.0) * Vector3::y()));
        (model, est, width)
    }

    /// The tool pose whose pads, `opening` (m) apart, have the object's centre midway.
    fn tool_around(model: &ArmModel, centre: Vector3<f64>, opening: f64) -> Isometry3<f64> {
        let rot = top_down_rotation(0.0);
        let (lo, hi) = model.gripper.pad_faces(opening);
        Isometry3::from_parts(Translation3::from(centre - rot * Vector3::new(0.0, 0.5 * (lo + hi), 0.0)), rot)
    }

    #[test]
    fn a_jaw_pressing_on_an_object_it_does_not_clamp_cannot_lift_it() {
        let (model, mut est, width) = setup();
        let rest = est.pose;
        let wide = width + 3.0 * CLAMP_SLACK_M;
        let tool = tool_around(&model, rest.translation.vector, wide);
        est.object_pose(&tool, true, wide);
        let up = Translation3::new(0.0, 0.0, 0.05) * tool;
        let seen = est.object_pose(&up, true, wide);
        assert!((seen.translation.z - rest.translation.z).abs() < 1e-9, "lifted to {}", seen.translation.z);
    }

    #[test]
    fn a_clamped_object_is_carried_and_rests_on_the_table_again_when_let_go() {
        let (model, mut est, width) = setup();
        let rest = est.pose;
        let tool = tool_around(&model, rest.translation.vector, width);
        est.object_pose(&tool, true, width);
        let up = Translation3::new(0.02, 0.0, 0.05) * tool;
        let carried = est.object_pose(&up, true, width);
        assert!((carried.translation.z - rest.translation.z - 0.05).abs() < 1e-9);
        assert!((carried.translation.x - rest.translation.x - 0.02).abs() < 1e-9);
        let dropped = est.object_pose(&up, false, width);
        assert!((dropped.translation.z - rest.translation.z).abs() < 1e-9, "still at {}", dropped.translation.z);
        assert!((dropped.translation.x - carried.translation.x).abs() < 1e-12);
    }

    #[test]
    fn an_object_pressed_by_the_pads_lies_between_them() {
        let (model, mut est, width) = setup();
        let rest = est.pose;
        // The tool 1 cm to the side along its closing direction: where the first touch found
        // the object, it would lie half inside a pad; it is centred between them instead.
        let tool = Translation3::new(0.0, 0.01, 0.0) * tool_around(&model, rest.translation.vector, width);
        let seen = est.object_pose(&tool, true, width);
        let y = (tool.inverse() * seen).translation.y;
        let (lo, hi) = model.gripper.pad_faces(width);
        assert!((y - 0.5 * (lo + hi)).abs() < 1e-9, "{y} m along the closing direction, pads at {lo}..{hi} m");
        // Pads 2 mm wider than the object, 0.5 mm off centre: it stays where it was.
        let (_, mut est, _) = setup();
        let wide = width + 0.002;
        let tool = Translation3::new(0.0, 0.0005, 0.0) * tool_around(&model, rest.translation.vector, wide);
        let seen = est.object_pose(&tool, true, wide);
        assert!((seen.translation.vector - rest.translation.vector).norm() < 1e-9);
    }

    /// The stall watch over 2 s at 50 Hz: the tool's target and measured pose are the same
    /// throughout (the other joints made up the loss); joint 1's target moves from 0 by
    /// `target_rate` (rad/s) while the joint itself moves by `joint_rate` (rad/s), lagging
    /// `lag_s` (s) behind. Returns the longest block (s) and the watch.
    fn watch_joint(target_rate: f64, joint_rate: f64, lag_s: f64) -> (f64, StallWatch) {
        let mut w = StallWatch::default();
        let pose = Isometry3::translation(0.2, 0.0, 0.1);
        for k in 0..100 {
            let t = k as f64 * 0.02;
            let sent = [0.1, target_rate * t, -0.2];
            let measured = [0.1, joint_rate * (t - lag_s).max(0.0), -0.2];
            w.update(t, (&sent, &pose), (&measured, &pose), 0.03);
        }
        (w.longest_s, w)
    }

    #[test]
    fn a_joint_whose_target_runs_away_while_it_stays_put_is_blocked_though_the_tool_is_where_it_should_be() {
        let (blocked, w) = watch_joint(0.5, 0.0, 0.0);
        // Held back from 0.3 s on (0.15 rad at 0.5 rad/s), never moved: blocked from then on.
        assert!((blocked - 1.68).abs() < 0.03, "blocked for {blocked} s");
        assert_eq!(w.joint_lead.0, 1);
        assert!((w.joint_lead.1 - 0.99).abs() < 1e-9, "{:?}", w.joint_lead);
    }

    #[test]
    fn a_joint_that_follows_its_target_late_or_slowly_is_not_blocked() {
        // 0.4 s behind a target at 0.5 rad/s: 0.2 rad of lead all along, but it moves (blocked
        // only until it starts, 0.1 s after the lead reached 0.15 rad, and 0.06 s more).
        let (blocked, _) = watch_joint(0.5, 0.5, 0.4);
        assert!(blocked < 0.2, "blocked for {blocked} s");
        // A target 0.14 rad ahead, held: below the lead that counts.
        let (blocked, _) = watch_joint(0.07, 0.0, 0.0);
        assert_eq!(blocked, 0.0);
    }
}
