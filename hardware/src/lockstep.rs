//! The hardware path in lockstep: the host's run loop ([`run_episode`], [`move_to`]), the
//! safety envelope, the firmware's controller core and the sim twin in one thread on a
//! simulated clock. Waiting for the next tick is what advances the core (every `core_tick_s`)
//! and the twin's physics, so an episode takes as long as its computation, and the same
//! scenario, policy and settings give the same episode bit for bit, where the emulator on a
//! pseudo-terminal runs against the wall clock and differs from run to run.
//!
//! It is a diagnostic, not a validation: nothing reaches a device and nothing is written to a
//! run's ledger. What it is for is attribution: the same episode run through the hardware
//! path and through the simulator's own step (the pre-flight) differs in a few named ways
//! ([`LockstepConfig`]), and each can be switched to the simulator's side alone.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use nalgebra::Isometry3;
use regrasp_curriculum::improve::FrozenSuites;
use regrasp_curriculum::run::RunDir;
use regrasp_firmware::controller::Controller;
use regrasp_firmware::protocol::{Frame, Message};
use regrasp_sim::{ArmModel, EnvConfig, GraspEnv, OutcomeKind, Scenario};
use serde::{Deserialize, Serialize};

use crate::arm::{Arm, ArmState, Guarded, JointCommand};
use crate::emulator::{EmulatorConfig, FaultConfig, Servos};
use crate::envelope::{EnvelopeConfig, SafetyEnvelope};
use crate::error::{HardwareError, Result};
use crate::link::{set_targets, state_of};
use crate::rig::EMULATOR_TICK_S;
use crate::session::{
    Clock, EpisodeReport, ObjectEstimate, ObjectSensor, Pilot, PolicyPilot, Preflight, RunConfig, move_to_start,
    preflight, run_episode,
};
use crate::trial::Station;
use crate::twin::{Twin, TwinBus, TwinCamera};

/// Where each episode starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// As on an arm (`hw validate`): from wherever the last episode left the arm, the run
    /// loop homes it to the scenario's start pose through the envelope and the core, then the
    /// object is placed in front of it.
    Homed,
    /// As the simulator starts an episode: the arm put at the scenario's start pose, at rest.
    Placed,
}

/// What the host knows of the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectView {
    /// Dead reckoning ([`ObjectEstimate`]): where it was placed, kept between the pads, and
    /// carried with the tool only while clamped; a desktop arm without a camera (`hw validate`).
    Estimate,
    /// The twin's true object pose (an ideal tracking camera), as the simulator observes it.
    Camera,
}

impl std::str::FromStr for Start {
    type Err = String;

    fn from_str(v: &str) -> std::result::Result<Self, String> {
        match v {
            "homed" => Ok(Start::Homed),
            "placed" => Ok(Start::Placed),
            _ => Err(format!("{v}: give `homed` or `placed`")),
        }
    }
}

impl std::str::FromStr for ObjectView {
    type Err = String;

    fn from_str(v: &str) -> std::result::Result<Self, String> {
        match v {
            "estimate" => Ok(ObjectView::Estimate),
            "camera" => Ok(ObjectView::Camera),
            _ => Err(format!("{v}: give `estimate` or `camera`")),
        }
    }
}

/// A servo stall as the command line gives it, `JOINT@SECONDS` (0-based joint, seconds after
/// the episode's start), for [`LockstepConfig::stall`].
pub fn parse_stall(v: &str) -> std::result::Result<(usize, f64), String> {
    let parsed = v.split_once('@').and_then(|(j, s)| Some((j.parse::<usize>().ok()?, s.parse::<f64>().ok()?)));
    match parsed {
        Some((j, s)) if s.is_finite() && s >= 0.0 => Ok((j, s)),
        _ => Err(format!("{v}: give JOINT@SECONDS, e.g. 0@2.5 (joint 0 stalls 2.5 s into the episode)")),
    }
}

/// The lockstep path's settings: the defaults are the hardware path as `hw validate --emulate`
/// runs it; each field can be set to the simulator's side to measure what it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockstepConfig {
    /// The controller core's tick, which is also the twin's control step (s).
    pub core_tick_s: f64,
    /// Whether the core limits each joint's step per tick to its URDF speed (the firmware's
    /// `max_step`); false lifts the limit (a speed no joint can reach), for attribution only.
    pub step_limits: bool,
    /// Where each episode starts.
    pub start: Start,
    /// What the host knows of the object.
    pub object: ObjectView,
    /// A servo fault: this joint's servo stalls (holds where it is, whatever it is told) from
    /// this long after each episode's start (s) until that episode ends, so every trial of a
    /// run meets the same fault from a working arm. It reports no load of its own, so the core,
    /// which watches loads, cannot see it: what the host's stall check ([`RunConfig::stall_s`])
    /// is for.
    pub stall: Option<(usize, f64)>,
}

impl Default for LockstepConfig {
    fn default() -> Self {
        Self {
            core_tick_s: EMULATOR_TICK_S,
            step_limits: true,
            start: Start::Homed,
            object: ObjectView::Estimate,
            stall: None,
        }
    }
}

impl LockstepConfig {
    /// Refuses settings that make no sense for `arm`, naming the field.
    pub fn validate(&self, arm: &ArmModel) -> Result<()> {
        let bad = |w: String| Err(HardwareError::Config(format!("lockstep: {w}")));
        if !(self.core_tick_s >= 1e-3 && self.core_tick_s <= 1.0) {
            return bad(format!("core tick {} s is not in [0.001, 1] s (a core rate of 1–1000 Hz)", self.core_tick_s));
        }
        if let Some((j, at)) = self.stall {
            if j >= arm.dof() {
                return bad(format!("stall joint {j}: the arm's joints are 0–{}", arm.dof() - 1));
            }
            if !(at.is_finite() && at >= 0.0) {
                return bad(format!("stall time {at} s must be finite and not negative"));
            }
        }
        Ok(())
    }
}

/// The core and its servos on simulated time.
struct Core {
    controller: Controller<Servos<TwinBus>>,
    period: Duration,
    /// The instant simulated time starts at.
    base: Instant,
    /// Simulated time since `base`.
    now: Duration,
    next_tick: Duration,
    /// The latest state report and when the core produced it (since `base`).
    state: Option<(Message, Duration)>,
    seq: u16,
    /// A joint to stall, and when (since `base`).
    stall_at: Option<(usize, Duration)>,
}

impl Core {
    fn now_ms(&self) -> u32 {
        self.now.as_millis() as u32
    }

    /// Runs every core tick due up to `t` (since `base`): the twin's physics for one tick, then
    /// the core's tick, which reads the servos and writes their targets.
    fn advance_to(&mut self, t: Duration) {
        while self.next_tick <= t {
            self.now = self.next_tick;
            if let Some((j, at)) = self.stall_at
                && self.now >= at
            {
                self.controller.bus.stall(j, true);
            }
            self.controller.bus.plant.advance(self.period.as_secs_f64());
            let s = self.controller.tick(self.now_ms());
            self.state = Some((s, self.now));
            self.next_tick += self.period;
        }
        self.now = self.now.max(t);
    }

    /// Hands `m` to the core now; returns its reply.
    fn send(&mut self, m: Message) -> Message {
        self.seq = self.seq.wrapping_add(1);
        let now = self.now_ms();
        self.controller.handle(&Frame { seq: self.seq, message: m }, now)
    }

    /// Torque on from wherever the core is (disarmed, holding, or latched after a stop: a
    /// simulation, so nobody needs to inspect the arm first): a handshake, the latch cleared,
    /// `Arm`, which holds the measured pose.
    fn rearm(&mut self) -> Result<()> {
        self.send(Message::Hello { nonce: 1 });
        self.request(Message::ClearFault, "clear fault")?;
        self.request(Message::Arm, "arm")
    }

    /// Sends `m` and requires an `Ok` acknowledgement.
    fn request(&mut self, m: Message, what: &str) -> Result<()> {
        match self.send(m) {
            Message::Ack { status: regrasp_firmware::protocol::Status::Ok, .. } => Ok(()),
            reply => Err(HardwareError::Refused { command: what.into(), status: format!("{reply:?}") }),
        }
    }
}

/// The simulated clock: waiting advances the core and the twin.
pub struct LockstepClock(Rc<RefCell<Core>>);

impl Clock for LockstepClock {
    fn now(&mut self) -> Instant {
        let c = self.0.borrow();
        c.base + c.now
    }

    fn wait_until(&mut self, deadline: Instant, stop: &AtomicBool) -> bool {
        let mut c = self.0.borrow_mut();
        let t = deadline.saturating_duration_since(c.base);
        c.advance_to(t);
        stop.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The arm as the host sees it: the core's state reports and its command messages, without
/// the serial link between them.
pub struct LockstepArm {
    core: Rc<RefCell<Core>>,
    joints: usize,
}

impl Arm for LockstepArm {
    /// The state report of the next core tick (advancing simulated time to it).
    fn read_state(&mut self) -> Result<ArmState> {
        let mut c = self.core.borrow_mut();
        let next = c.next_tick;
        c.advance_to(next);
        let Some((m, at)) = c.state else { return Err(HardwareError::Mismatch("no state report".into())) };
        let mut s = state_of(&m).ok_or_else(|| HardwareError::Mismatch("not a state report".into()))?;
        s.received = Some(c.base + at);
        Ok(s)
    }

    fn latest_state(&mut self) -> Result<ArmState> {
        let latest = self.core.borrow().state;
        let Some((m, at)) = latest else { return self.read_state() };
        let mut s = state_of(&m).ok_or_else(|| HardwareError::Mismatch("not a state report".into()))?;
        s.received = Some(self.core.borrow().base + at);
        Ok(s)
    }

    /// Hands the targets to the core, as the bridge sends them (valid for 100 ms); the core's
    /// refusal shows in its next state report, as on the link.
    fn command(&mut self, cmd: &JointCommand) -> Result<()> {
        let m = set_targets(cmd, self.joints, 100)?;
        self.core.borrow_mut().send(m);
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        self.core.borrow_mut().send(Message::EStop);
        Ok(())
    }
}

/// The host's object sensor, audited against the twin's truth at every tick.
struct Audited<'a> {
    inner: &'a mut dyn ObjectSensor,
    twin: Twin,
    /// Largest distance (m) between the host's object position and the twin's, until the
    /// twin's classifier decided the outcome.
    max_error_m: f64,
}

impl ObjectSensor for Audited<'_> {
    fn object_pose(&mut self, tool: &Isometry3<f64>, touching: bool, opening: f64) -> Isometry3<f64> {
        let seen = self.inner.object_pose(tool, touching, opening);
        if let Some(t) = self.twin.truth().filter(|t| t.outcome.is_none()) {
            self.max_error_m = self.max_error_m.max((t.object.translation.vector - seen.translation.vector).norm());
        }
        seen
    }
}

/// One episode in lockstep.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LockstepTrial {
    /// The scenario's seed.
    pub seed: u64,
    /// What the host's run loop measured.
    pub report: EpisodeReport,
    /// The twin's classifier's verdict (a timeout when it had not decided).
    pub outcome: OutcomeKind,
    /// The twin's simulated control steps in the episode.
    pub twin_steps: u64,
    /// Largest distance (m) between where the host believed the object was and where the
    /// twin had it, over the episode's ticks until the twin's classifier decided the outcome.
    pub max_object_error_m: f64,
    /// The twin's safety figures of the episode (peak contact and arm–table forces, N).
    pub safety: regrasp_sim::EpisodeSafety,
}

/// The hardware path of one arm in lockstep.
pub struct Lockstep {
    arm: Arc<ArmModel>,
    env: Arc<EnvConfig>,
    cfg: LockstepConfig,
    twin: Twin,
    /// The simulation of this arm (its scenarios' start poses).
    sim: GraspEnv,
    core: Rc<RefCell<Core>>,
    guarded: Guarded<LockstepArm>,
    clock: LockstepClock,
}

impl Lockstep {
    /// The twin of `arm` holding `first`'s object with the arm at its start pose, the core
    /// armed over it, and `envelope` in front.
    pub fn new(
        arm: &Arc<ArmModel>,
        env: &Arc<EnvConfig>,
        first: &Scenario,
        envelope: EnvelopeConfig,
        cfg: LockstepConfig,
    ) -> Result<Self> {
        cfg.validate(arm)?;
        let twin = Twin::new(Arc::clone(arm), env, first, cfg.core_tick_s)?;
        let mut emu = EmulatorConfig::for_twin(arm, cfg.core_tick_s, FaultConfig::default());
        if !cfg.step_limits {
            for l in emu.limits.iter_mut().chain(std::iter::once(&mut emu.controller.gripper)) {
                l.max_step = f32::MAX;
            }
        }
        let servos = Servos::new(twin.bus(), &FaultConfig::default());
        let controller = Controller::new(servos, &emu.limits, emu.controller)
            .map_err(|e| HardwareError::Config(format!("lockstep core: {e:?}")))?;
        let period = Duration::from_millis(emu.period_ms.max(1));
        let core = Core {
            controller,
            period,
            base: Instant::now(),
            now: Duration::ZERO,
            next_tick: period,
            state: None,
            seq: 0,
            stall_at: None,
        };
        let core = Rc::new(RefCell::new(core));
        core.borrow_mut().rearm()?;
        let lockstep_arm = LockstepArm { core: Rc::clone(&core), joints: arm.dof() };
        let guarded = Guarded::new(lockstep_arm, SafetyEnvelope::new(Arc::clone(arm), envelope)?)?;
        let clock = LockstepClock(Rc::clone(&core));
        let sim = GraspEnv::new(Arc::clone(arm), Arc::clone(env))?;
        Ok(Self { arm: Arc::clone(arm), env: Arc::clone(env), cfg, twin, sim, core, guarded, clock })
    }

    /// The sim twin.
    pub fn twin(&self) -> &Twin {
        &self.twin
    }

    /// One trial of `scenario` as `hw validate` runs it: re-arm if the core dropped the torque,
    /// start (homed or placed), the run loop with `pilot` until it ends, and the twin's verdict.
    pub fn trial(&mut self, pilot: &mut dyn Pilot, scenario: &Scenario, run: &RunConfig) -> Result<LockstepTrial> {
        let stop = AtomicBool::new(false);
        // The core's mode now (the last state report may predate a stop).
        let mode = self.core.borrow().controller.mode();
        let armed =
            matches!(mode, regrasp_firmware::protocol::ModeCode::Armed | regrasp_firmware::protocol::ModeCode::Holding);
        match self.cfg.start {
            Start::Homed => {
                if !armed {
                    // After a watchdog hold or a safety stop.
                    self.core.borrow_mut().rearm()?;
                }
                // The last trial's object is taken away before the arm homes, as at a real arm.
                self.twin.clear()?;
                move_to_start(&mut self.guarded, &self.sim, scenario, run, &mut self.clock, &stop)?;
                self.twin.place(scenario)?;
            }
            Start::Placed => {
                // Torque off, the arm put in place, torque on: the core starts from the new pose.
                let mut c = self.core.borrow_mut();
                c.send(Message::Disarm);
                self.twin.reset(scenario)?;
                c.rearm()?;
                let next = c.next_tick;
                c.advance_to(next);
            }
        }
        let mut estimate = ObjectEstimate::placed(scenario, &self.arm);
        let mut camera = TwinCamera(self.twin.clone());
        let sensor: &mut dyn ObjectSensor = match self.cfg.object {
            ObjectView::Estimate => &mut estimate,
            ObjectView::Camera => &mut camera,
        };
        if let Some((j, after_s)) = self.cfg.stall {
            let mut c = self.core.borrow_mut();
            c.stall_at = Some((j, c.now + Duration::from_secs_f64(after_s)));
        }
        let mut audited = Audited { inner: sensor, twin: self.twin.clone(), max_error_m: 0.0 };
        let (arm, env) = (&self.arm, &self.env);
        let report = run_episode(
            &mut self.guarded,
            pilot,
            arm,
            env,
            scenario,
            &mut audited,
            run,
            &mut self.clock,
            &stop,
            &mut |_| {},
        );
        {
            // The fault lasts the episode: the next trial homes a working arm.
            let mut c = self.core.borrow_mut();
            c.stall_at = None;
            c.controller.bus.release_stall();
        }
        let report = report?;
        let max_object_error_m = audited.max_error_m;
        let truth = self.twin.truth();
        let outcome = truth.as_ref().and_then(|t| t.outcome.as_ref()).map_or(OutcomeKind::Timeout, |o| o.kind);
        Ok(LockstepTrial {
            seed: scenario.seed,
            report,
            outcome,
            twin_steps: truth.as_ref().map_or(0, |t| t.steps),
            max_object_error_m,
            safety: truth.map(|t| t.safety).unwrap_or_default(),
        })
    }
}

/// One scenario of a lockstep protocol.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LockstepScenario {
    /// The scenario's seed.
    pub seed: u64,
    /// The pre-flight's verdict: its prediction, or why it refused the scenario.
    pub preflight: std::result::Result<Preflight, String>,
    /// The trial, when the pre-flight admitted it.
    pub trial: Option<LockstepTrial>,
}

/// What a lockstep protocol measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LockstepReport {
    /// The settings.
    pub config: LockstepConfig,
    /// Per scenario, in order.
    pub scenarios: Vec<LockstepScenario>,
    /// Trials run (scenarios the pre-flight admitted).
    pub trials: usize,
    /// Trials the twin's classifier judged successes.
    pub successes: usize,
}

impl Lockstep {
    /// The validation protocol in lockstep: the policy `policy` (default: the champion) that
    /// `run_dir`'s certificate rule admits, every scenario's pre-flight first, then, in order, a
    /// trial of each one it admits, as `hw validate` runs them. Scenarios of the run's frozen
    /// suites are refused, as for real trials: nothing is tuned on them. Unlike `hw validate`, a
    /// safety stop does not end the protocol (the next trial clears the core's latch: this is a
    /// simulation), and nothing is recorded in the run.
    pub fn protocol(
        station: &Station,
        run_dir: &RunDir,
        policy: Option<&str>,
        scenarios: &[Scenario],
        cfg: LockstepConfig,
        say: &mut dyn FnMut(&str),
    ) -> Result<LockstepReport> {
        let (arm, env, run) = (&station.arm, &station.env, &station.run);
        run.validate()?;
        FrozenSuites::load(&run_dir.config()?, &arm.task)?.firewall().check("lockstep trials", scenarios)?;
        let certified = run_dir.certify(policy, arm)?;
        say(&format!("certified: {} ({})", certified.certificate().checkpoint, certified.certificate().source));
        let Some(first) = scenarios.first() else {
            return Err(HardwareError::Validation("no scenarios to run in lockstep".into()));
        };
        let preflights: Vec<_> = scenarios
            .iter()
            .map(|s| preflight(certified.policy(), arm, env, s, station.max_contact_force).map_err(|e| e.to_string()))
            .collect();
        let mut lockstep = Lockstep::new(arm, env, first, station.envelope.clone(), cfg.clone())?;
        let mut pilot = PolicyPilot::new(certified);
        let mut out = Vec::with_capacity(scenarios.len());
        for (scenario, preflight) in scenarios.iter().zip(preflights) {
            let trial = match preflight {
                Ok(_) => Some(lockstep.trial(&mut pilot, scenario, run)?),
                Err(_) => None,
            };
            out.push(LockstepScenario { seed: scenario.seed, preflight, trial });
        }
        let trials = out.iter().filter(|s| s.trial.is_some()).count();
        let successes =
            out.iter().filter(|s| s.trial.as_ref().is_some_and(|t| t.outcome == OutcomeKind::Success)).count();
        Ok(LockstepReport { config: cfg, scenarios: out, trials, successes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regrasp_sim::Action;

    /// Sways the tool sideways with the gripper open, then closes it: moves every joint.
    struct Sway(u64);

    impl Pilot for Sway {
        fn act(&mut self, _obs: &[f32], env: &EnvConfig) -> Result<Action> {
            self.0 += 1;
            let y = (self.0 as f64 * 0.3).sin() as f32 * env.action.max_translation as f32;
            Ok(Action { translation: [0.0, y, -0.3 * env.action.max_translation as f32], yaw: 0.0, gripper: -1.0 })
        }
    }

    /// Pushes the tool sideways at full speed with the gripper open.
    struct Push;

    impl Pilot for Push {
        fn act(&mut self, _obs: &[f32], env: &EnvConfig) -> Result<Action> {
            Ok(Action { translation: [0.0, env.action.max_translation as f32, 0.0], yaw: 0.0, gripper: -1.0 })
        }
    }

    #[test]
    fn a_servo_that_stalls_mid_episode_stops_the_arm_once_the_tool_is_blocked_for_the_stall_time() {
        let (mut l, scenarios, run) = rig(LockstepConfig { stall: Some((0, 0.5)), ..LockstepConfig::default() });
        let run = RunConfig { episode_s: 6.0, ..run };
        let t = l.trial(&mut Push, &scenarios[0], &run).unwrap();
        let crate::session::StopReason::Stall { seconds, lead_m, .. } = t.report.stop else {
            panic!("not stopped for a stall: {:?}", t.report.stop)
        };
        let pinned = crate::session::STALL_LEAD_FRACTION * l.env.action.max_target_lead;
        assert!(seconds >= run.stall_s && lead_m >= pinned, "{seconds} s, {lead_m} m");
        // The other joints carry the tool on for a while (the tool moves, so it is not blocked);
        // once it stops, the stall time runs, well before the episode's end.
        assert!(
            t.report.seconds >= 0.5 + run.stall_s && t.report.seconds < 4.0,
            "stopped after {} s",
            t.report.seconds
        );
        // And the stop reached the core: at its next tick the torque is off.
        assert!(!l.guarded.arm().read_state().unwrap().armed);
    }

    /// Regression: a stall used to outlast its episode, so the next trial's homing waited for
    /// a joint that could not move and the run ended in a timeout error.
    #[test]
    fn an_injected_stall_lasts_one_episode_and_the_next_trial_meets_it_afresh() {
        let (mut l, scenarios, run) = rig(LockstepConfig { stall: Some((0, 0.5)), ..LockstepConfig::default() });
        let run = RunConfig { episode_s: 6.0, ..run };
        for scenario in &scenarios[..2] {
            let t = l.trial(&mut Push, scenario, &run).unwrap();
            assert!(
                matches!(t.report.stop, crate::session::StopReason::Stall { .. }),
                "seed {}: {:?}",
                scenario.seed,
                t.report.stop
            );
        }
    }

    /// Homing that cannot arrive names the joint that fell short and what to check; it used to
    /// say "no answer from the arm", which the arm had given all along.
    #[test]
    fn homing_that_cannot_arrive_names_the_joint_short_of_its_target() {
        let (mut l, _, run) = rig(LockstepConfig::default());
        let mut target = l.twin().truth().unwrap().q;
        let elbow = so101_joint("elbow_flex");
        target[elbow] = l.arm.chain.upper[elbow] + 0.3; // past its limit: the envelope holds it there
        let gripper = l.arm.gripper.servo_from_jaw(l.arm.gripper.open);
        let stop = AtomicBool::new(false);
        let e = crate::session::move_to(&mut l.guarded, &target, gripper, 1.0, &run, &mut l.clock, &stop)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did not reach") && e.contains(&format!("joint {elbow} at")), "{e}");
    }

    /// Regression (session 27, the SO-101 champion over seeds 100–299): the twin left the last
    /// trial's object on the table while the arm homed; one came to lie under the next ready
    /// pose's jaws and the elbow could not get there. The twin now takes it away first, as the
    /// operator of a real arm does.
    #[test]
    fn the_last_trials_object_is_taken_away_before_the_arm_homes() {
        let (mut l, scenarios, _) = rig(LockstepConfig::default());
        let next = scenarios[1];
        let home = home_of(&l, &next);
        let ready = l.arm.chain.fk(&home).translation;
        // A tall box left standing right under the next ready pose's tool.
        let mut left = next;
        left.object.shape = regrasp_sim::scenario::Shape::Box { size: [0.04, 0.04, 0.12] };
        (left.object.pose.x, left.object.pose.y, left.object.pose.lying) = (ready.x, ready.y, false);
        l.twin().place(&left).unwrap();
        let run = RunConfig { episode_s: 1e-3, ..RunConfig::for_task(&l.env) };
        let t = l.trial(&mut Sway(0), &next, &run).unwrap();
        assert_eq!(t.seed, next.seed);
        let q = l.twin().truth().unwrap().q;
        let worst = q.iter().zip(&home).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 0.03, "homed {worst} rad from the ready pose");
    }

    /// A policy that only turns the tool, at full speed for this many decisions, then holds.
    struct Turn(u32);

    impl Pilot for Turn {
        fn act(&mut self, _obs: &[f32], env: &EnvConfig) -> Result<Action> {
            let yaw = if self.0 > 0 { env.action.max_yaw as f32 } else { 0.0 };
            self.0 = self.0.saturating_sub(1);
            Ok(Action { translation: [0.0, 0.0, 0.0], yaw, gripper: -1.0 })
        }
    }

    /// Regression (session 26's quiet-stall runs: 7 of 40 ran to the timeout undetected): a
    /// stalled wrist roll leaves the tool where it should be and only its orientation wrong, which
    /// a check on position alone never sees.
    #[test]
    fn a_stalled_wrist_roll_is_caught_by_the_orientation_it_does_not_turn_to() {
        let roll = so101_joint("wrist_roll");
        let (mut l, scenarios, run) = rig(LockstepConfig { stall: Some((roll, 0.0)), ..LockstepConfig::default() });
        let run = RunConfig { episode_s: 6.0, ..run };
        // A quarter turn and a bit (10 decisions at full yaw), then held.
        let t = l.trial(&mut Turn(10), &scenarios[0], &run).unwrap();
        let crate::session::StopReason::Stall { seconds, lead_rad, .. } = t.report.stop else {
            panic!("not stopped for a stall: {:?}", t.report.stop)
        };
        assert!(
            seconds >= run.stall_s && lead_rad >= crate::session::STALL_ANGLE_LEAD_RAD,
            "{seconds} s, {lead_rad} rad"
        );
        assert!(t.report.seconds < 4.0, "stopped after {} s", t.report.seconds);
        assert!(!l.guarded.arm().read_state().unwrap().armed);
    }

    #[test]
    fn turning_the_tool_as_fast_as_the_policy_may_is_not_a_stall() {
        let (mut l, scenarios, run) = rig(LockstepConfig::default());
        let run = RunConfig { episode_s: 6.0, ..run };
        let roll = so101_joint("wrist_roll");
        let before = l.twin().truth().unwrap().q[roll];
        // A quarter turn and a bit (10 decisions at full yaw), as fast as the policy may ask.
        let turns = 10;
        let t = l.trial(&mut Turn(turns), &scenarios[0], &run).unwrap();
        assert_eq!(t.report.stop, crate::session::StopReason::Timeout);
        assert!(t.report.longest_block_s < run.stall_s, "blocked for {} s", t.report.longest_block_s);
        let after = l.twin().truth().unwrap().q[roll];
        let asked = turns as f64 * l.env.action.max_yaw;
        assert!((after - before).abs() > 0.5 * asked, "the wrist turned only from {before} to {after} rad");
    }

    /// The index in the joint vector of the SO-101's joint `name`.
    fn so101_joint(name: &str) -> usize {
        let arm = ArmModel::named("so101").unwrap();
        arm.chain.joints.iter().find(|j| j.name == name).and_then(|j| j.index).unwrap()
    }

    #[test]
    fn pushing_the_tool_to_the_edge_of_its_workspace_is_not_a_stall() {
        let (mut l, scenarios, run) = rig(LockstepConfig::default());
        let run = RunConfig { episode_s: 6.0, ..run };
        let t = l.trial(&mut Push, &scenarios[0], &run).unwrap();
        assert_eq!(t.report.stop, crate::session::StopReason::Timeout);
        assert!(t.report.longest_block_s < run.stall_s, "blocked for {} s", t.report.longest_block_s);
        let tool = l.arm.chain.fk(&l.twin().truth().unwrap().q).translation.y;
        assert!(tool > 0.1, "the tool went only to y = {tool} m");
    }

    /// The joints (rad) of `scenario`'s start pose: where homing takes the arm.
    fn home_of(l: &Lockstep, scenario: &Scenario) -> Vec<f64> {
        GraspEnv::new(Arc::clone(&l.arm), Arc::clone(&l.env))
            .unwrap()
            .start_configuration(scenario, "scenario")
            .unwrap()
    }

    fn rig(cfg: LockstepConfig) -> (Lockstep, Vec<Scenario>, RunConfig) {
        let arm = Arc::new(ArmModel::named("so101").unwrap());
        let env = Arc::new(arm.task.env.clone());
        let scenarios: Vec<Scenario> = (0..2).map(|s| arm.task.distribution.sample(s)).collect();
        let run = RunConfig { episode_s: 2.0, ..RunConfig::for_task(&env) };
        let envelope = crate::trial::Station::default_envelope(&arm, &env, &run);
        (Lockstep::new(&arm, &env, &scenarios[0], envelope, cfg).unwrap(), scenarios, run)
    }

    fn trials(cfg: LockstepConfig) -> (Vec<LockstepTrial>, crate::twin::TwinTruth) {
        let (mut l, scenarios, run) = rig(cfg);
        let t = scenarios.iter().map(|s| l.trial(&mut Sway(0), s, &run).unwrap()).collect();
        (t, l.twin().truth().unwrap())
    }

    #[test]
    fn the_same_trials_in_lockstep_are_the_same_bit_for_bit() {
        // Everything but the envelope's check time, which is measured on the wall clock.
        let simulated = |mut t: Vec<LockstepTrial>| {
            t.iter_mut().for_each(|t| t.report.envelope_us = [0.0; 3]);
            t
        };
        let (a, truth_a) = trials(LockstepConfig::default());
        let (b, truth_b) = trials(LockstepConfig::default());
        let (a, b) = (simulated(a), simulated(b));
        assert_eq!(a, b);
        assert_eq!(truth_a, truth_b);
        // The episodes ran for their simulated time: 2 s at 50 Hz, the twin at 40 Hz.
        assert_eq!(a[1].report.stop, crate::session::StopReason::Timeout);
        assert_eq!(a[1].report.ticks, 100);
        assert!((80..=82).contains(&a[1].twin_steps), "{} twin steps", a[1].twin_steps);
        // The arm moved: the sway reached the servos.
        assert!(truth_a.q.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn a_placed_start_puts_the_arm_at_the_scenarios_start_pose_and_a_homed_one_drives_it_there() {
        for start in [Start::Placed, Start::Homed] {
            let (mut l, scenarios, _) = rig(LockstepConfig { start, ..LockstepConfig::default() });
            let home = home_of(&l, &scenarios[1]);
            // The episode time is zero ticks long: the trial ends where it started.
            let run = RunConfig { episode_s: 1e-3, ..RunConfig::for_task(&l.env) };
            l.trial(&mut Sway(0), &scenarios[1], &run).unwrap();
            let q = l.twin().truth().unwrap().q;
            let worst = q.iter().zip(&home).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            let bound = if start == Start::Placed { 0.02 } else { 0.03 };
            assert!(worst < bound, "{start:?}: {worst} rad from the start pose");
        }
    }

    #[test]
    fn lifting_the_step_limits_lets_the_core_pass_a_jump_in_one_tick() {
        for (step_limits, jumps) in [(true, false), (false, true)] {
            let (l, _, _) = rig(LockstepConfig { step_limits, ..LockstepConfig::default() });
            let mut c = l.core.borrow_mut();
            let before = c.controller.commanded()[0];
            let mut positions = [0.0f32; regrasp_firmware::protocol::MAX_JOINTS];
            positions[..l.arm.dof()].copy_from_slice(c.controller.commanded());
            positions[0] += 0.5;
            let g = l.arm.gripper.servo_range().1 as f32;
            c.send(Message::SetTargets { joints: l.arm.dof() as u8, positions, gripper: g, valid_for_ms: 100 });
            let next = c.next_tick;
            c.advance_to(next);
            let moved = c.controller.commanded()[0] - before;
            assert_eq!((moved - 0.5).abs() < 1e-6, jumps, "step limits {step_limits}: moved {moved} rad");
        }
    }
}
