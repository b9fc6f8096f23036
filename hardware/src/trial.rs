//! Physical trials of a certified policy at a [`Station`] (an arm, how it is connected, its
//! limits): one episode (`regrasp hw run`) and the validation protocol (`regrasp hw validate`).
//! Both take a [`Certified`] policy, which only the certificate rule produces. The protocol
//! talks to an [`Operator`]: the person at the keyboard ([`KeyboardOperator`]) or, in
//! emulation, the sim twin ([`TwinOperator`]), which places each object and whose classifier
//! gives the verdict. Verdicts and the host's evidence are recorded in the run's ledger as a
//! real-world evaluation (`real/N`), whose failures join the failure archive.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use regrasp_curriculum::improve::FrozenSuites;
use regrasp_curriculum::ledger::RealTrial;
use regrasp_curriculum::run::{Certificate, Certified, RunDir};
use regrasp_curriculum::vocabulary::Suite;
use regrasp_logs::Recorder;
use regrasp_policy::eval::{EpisodeRecord, EvalReport};
use regrasp_sim::outcome::{Evidence, Outcome, OutcomeKind};
use regrasp_sim::{ArmModel, EnvConfig, GraspEnv, Scenario};
use serde::Serialize;

use crate::envelope::{EnvelopeConfig, intervention_names};
use crate::error::{HardwareError, Result};
use crate::rig::{Port, Rig};
use crate::session::{
    EpisodeReport, ObjectEstimate, PolicyPilot, Preflight, RunConfig, TickRecord, WallClock, move_to_start, preflight,
    run_episode,
};

/// An arm where trials run: its model and simulation settings, how it is connected, the
/// limits in front of it and the run loop's settings.
#[derive(Clone, Debug)]
pub struct Station {
    /// The arm model.
    pub arm: Arc<ArmModel>,
    /// The simulation settings (pre-flight, observation, control rate).
    pub env: Arc<EnvConfig>,
    /// Where the arm is.
    pub port: Port,
    /// The safety envelope.
    pub envelope: EnvelopeConfig,
    /// The run loop.
    pub run: RunConfig,
    /// Largest contact force the pre-flight simulation may predict (N).
    pub max_contact_force: f64,
    /// Session id the firmware echoes (the process id, say); trial k of a protocol re-arms
    /// with `nonce + k`.
    pub nonce: u32,
}

/// What one `hw run` episode did.
#[derive(Clone, Debug, Serialize)]
pub struct TrialOutcome {
    /// Why the policy was admitted.
    pub certificate: Certificate,
    /// The pre-flight's prediction.
    pub preflight: Preflight,
    /// The episode.
    pub report: EpisodeReport,
}

/// Joint names as recorded: the arm joints, then `gripper`.
fn joint_names(arm: &ArmModel) -> Vec<String> {
    arm.arm_joints.iter().map(|j| j.name.clone()).chain(std::iter::once("gripper".to_string())).collect()
}

fn record_tick(rec: &Recorder, names: &[String], t: &TickRecord) {
    rec.hardware_tick(t.tick, t.elapsed_s, names, &t.commanded, &t.measured);
    if t.interventions != 0 {
        rec.hardware_event(false, &format!("envelope: {}", intervention_names(t.interventions).join(", ")));
    }
}

impl Station {
    /// The envelope the training controller's own limits give `arm` at the loop's rate.
    pub fn default_envelope(arm: &ArmModel, env: &EnvConfig, run: &RunConfig) -> EnvelopeConfig {
        EnvelopeConfig::for_arm(arm, 1.0 / run.rate_hz, env.control_dt())
    }

    /// One episode of `pilot` on the rig from where the arm is, the object estimated where
    /// `scenario` places it; every tick is recorded, and a safety stop is recorded as a fault.
    fn episode(
        &self,
        rig: &mut Rig,
        pilot: &mut PolicyPilot,
        scenario: &Scenario,
        stop: &AtomicBool,
        rec: &Recorder,
    ) -> Result<EpisodeReport> {
        let names = joint_names(&self.arm);
        let mut sensor = ObjectEstimate::placed(scenario, &self.arm);
        let (arm, env, run) = (&self.arm, &self.env, &self.run);
        let report =
            run_episode(rig.guarded(), pilot, arm, env, scenario, &mut sensor, run, &mut WallClock, stop, &mut |t| {
                record_tick(rec, &names, t)
            })?;
        if report.stop.is_safety_stop() {
            rec.hardware_event(true, &format!("stopped: {:?}", report.stop));
        }
        Ok(report)
    }

    /// One episode of `certified` on `scenario`: the pre-flight simulation first (nothing is
    /// connected if it refuses), then the run loop through the envelope until the object is
    /// held, time runs out, `stop` is raised or a safety stop. Every tick is recorded.
    pub fn run_trial(
        &self,
        certified: Certified,
        scenario: &Scenario,
        stop: &AtomicBool,
        rec: &Recorder,
        say: &mut dyn FnMut(&str),
    ) -> Result<TrialOutcome> {
        self.run.validate()?;
        let pre = preflight(certified.policy(), &self.arm, &self.env, scenario, self.max_contact_force)?;
        say(&format!("pre-flight: {:?}, peak contact {:.1} N", pre.outcome, pre.peak_contact_force));
        let mut rig = Rig::connect(&self.arm, &self.env, &self.port, self.envelope.clone(), self.nonce)?;
        say("running; Enter or Ctrl-C stops the arm");
        let certificate = certified.certificate().clone();
        let report = self.episode(&mut rig, &mut PolicyPilot::new(certified), scenario, stop, rec)?;
        Ok(TrialOutcome { certificate, preflight: pre, report })
    }

    /// The validation protocol: for each scenario the operator sets up the object (as shown in
    /// the recording and described to them), confirms, the pre-flight has its say, the arm goes
    /// to the scenario's ready pose and runs, and the operator gives the verdict. The trials
    /// are recorded in `run`'s ledger as its next real-world evaluation of the policy. Scenarios
    /// of the run's frozen suites (or outside the training seed space) are refused before
    /// anything moves: real trials feed the curriculum. A safety stop ends the protocol.
    pub fn validate(
        &self,
        run: &mut RunDir,
        certified: Certified,
        scenarios: &[Scenario],
        operator: &mut dyn Operator,
        stop: &AtomicBool,
        rec: &Recorder,
        say: &mut dyn FnMut(&str),
    ) -> Result<Validation> {
        self.run.validate()?;
        if scenarios.is_empty() {
            return Err(HardwareError::Validation("no scenarios to validate on".into()));
        }
        FrozenSuites::load(&run.config()?, &self.arm.task)?.firewall().check("real trials", scenarios)?;
        let generation = run.ledger().champion()?.map_or(0, |(_, g)| g);
        // Every pre-flight first, before the arm is connected: simulating takes seconds, and
        // between trials the host would be silent that long, so the core's watchdog would drop
        // the torque of an arm still holding the last object.
        say(&format!("pre-flight: simulating the {} scenarios with the policy", scenarios.len()));
        let preflights: Vec<Result<_>> = scenarios
            .iter()
            .map(|s| preflight(certified.policy(), &self.arm, &self.env, s, self.max_contact_force))
            .collect();
        let mut rig = Rig::connect(&self.arm, &self.env, &self.port, self.envelope.clone(), self.nonce)?;
        let certificate = certified.certificate().clone();
        let policy_hash = certified.policy().hash.clone();
        let mut pilot = PolicyPilot::new(certified);
        let (mut records, mut trials) = (Vec::new(), Vec::new());
        let start = Instant::now();
        for (i, scenario) in scenarios.iter().enumerate() {
            let what = describe(scenario);
            say(&format!("\nscenario {} of {}: take the last object away and place a {what}", i + 1, scenarios.len()));
            // Show the set-up: the scene at rest with the object where it must go.
            let mut sim = GraspEnv::new(Arc::clone(&self.arm), Arc::clone(&self.env))?;
            sim.reset(scenario)?;
            if let (Some(g), Some(st)) = (sim.scene_geometry(), sim.scene_state()) {
                rec.trial_setup(i as i64, &g, &st.body_poses, &format!("trial {}: place a {what}", i + 1));
            }
            match operator.set_up(i, scenarios.len(), &what)? {
                SetUp::Quit => break,
                SetUp::Skip => continue,
                SetUp::Run => {}
            }
            match &preflights[i] {
                Ok(pre) => say(&format!("pre-flight (simulation): {:?}", pre.outcome)),
                Err(e) => {
                    say(&format!("skipped: {e}"));
                    continue;
                }
            }
            operator.clear(&rig)?;
            rig.guarded().arm().rearm(self.nonce.wrapping_add(i as u32 + 1))?;
            move_to_start(rig.guarded(), &sim, scenario, &self.run, &mut WallClock, stop)?;
            operator.place(&rig, scenario)?;
            let report = self.episode(&mut rig, &mut pilot, scenario, stop, rec)?;
            say(&format!(
                "arm: {} after {:.1} s; gripper {:.3} {}, peak load {:.2}, held lift {:.3} m",
                report.stop.describe(),
                report.seconds,
                report.final_gripper,
                self.arm.gripper.servo_unit(),
                report.max_gripper_load,
                report.held_lift
            ));
            let Some(kind) = operator.verdict(&rig, &report)? else {
                return Err(HardwareError::Validation(format!(
                    "input ended before the verdict of trial {}; nothing was recorded",
                    i + 1
                )));
            };
            let evidence = Evidence {
                time: report.seconds,
                lift: report.held_lift,
                max_held_lift: report.held_lift,
                gripper_opening: report.final_gripper,
                note: format!(
                    "operator: {}; host: {:?}, peak gripper load {:.2}",
                    kind.name(),
                    report.stop,
                    report.max_gripper_load
                ),
                ..Evidence::default()
            };
            rec.hardware_event(kind != OutcomeKind::Success, &evidence.note);
            records.push(EpisodeRecord {
                scenario: *scenario,
                policy_hash: policy_hash.clone(),
                actions: vec![],
                final_state_hash: 0,
                outcome: Outcome { kind, evidence },
                metrics: Default::default(),
            });
            let evidence = serde_json::to_value(&report).map_err(|e| HardwareError::Validation(e.to_string()))?;
            trials.push(RealTrial { verdict: kind.name().into(), evidence });
            if report.stop.is_safety_stop() {
                say(&format!("the arm was stopped for safety ({}); the protocol ends here", report.stop.describe()));
                break;
            }
        }
        drop(rig);
        if records.is_empty() {
            return Err(HardwareError::Validation("no trial was run; nothing recorded".into()));
        }
        let mut report = EvalReport::tally("real", &policy_hash, &records, start.elapsed().as_secs_f64());
        let (evaluation, suite) = run.ledger_mut().record_real_evaluation(generation, &report, &records, &trials)?;
        report.suite = suite.to_string();
        Ok(Validation { certificate, suite, evaluation, report })
    }
}

/// What the validation protocol recorded.
#[derive(Clone, Debug, Serialize)]
pub struct Validation {
    /// Why the policy was admitted.
    pub certificate: Certificate,
    /// The suite it was recorded as (`real/N`).
    pub suite: Suite,
    /// The evaluation's id in the run's ledger.
    pub evaluation: i64,
    /// The operator's verdicts, tallied.
    pub report: EvalReport,
}

/// What the operator does with a trial's set-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetUp {
    /// The object is in place: run the trial.
    Run,
    /// Skip this scenario.
    Skip,
    /// End the protocol (what was run so far is recorded).
    Quit,
}

/// The person (or stand-in) at the arm during the validation protocol.
pub trait Operator {
    /// Trial `trial` (0-based) of `of` needs the object `what` (shape, size, mass and where it
    /// goes, in words): set it up, or skip, or quit.
    fn set_up(&mut self, trial: usize, of: usize, what: &str) -> Result<SetUp>;

    /// Before the arm homes for a trial that will run: the last trial's object is gone from the
    /// table and the gripper (a person did that at the set-up; a twin does it now).
    fn clear(&mut self, rig: &Rig) -> Result<()>;

    /// The arm waits at the scenario's ready pose: the object goes where the scenario puts it
    /// (a person did that before confirming the set-up; a twin does it now).
    fn place(&mut self, rig: &Rig, scenario: &Scenario) -> Result<()>;

    /// The verdict on the episode the arm just ran; `None` when the operator is gone.
    fn verdict(&mut self, rig: &Rig, report: &EpisodeReport) -> Result<Option<OutcomeKind>>;
}

/// The emulated operator: the sim twin places each object, and the simulator's own classifier
/// gives the verdict (a trial the classifier has not decided is a timeout).
#[derive(Clone, Copy, Debug, Default)]
pub struct TwinOperator;

impl TwinOperator {
    /// The twin behind `rig`; only an emulated rig has one.
    fn twin(rig: &Rig) -> Result<&crate::twin::Twin> {
        rig.twin().ok_or_else(|| HardwareError::Config("the twin operator needs an emulated rig".into()))
    }
}

impl Operator for TwinOperator {
    fn set_up(&mut self, _trial: usize, _of: usize, _what: &str) -> Result<SetUp> {
        Ok(SetUp::Run)
    }

    fn clear(&mut self, rig: &Rig) -> Result<()> {
        Self::twin(rig)?.clear()
    }

    fn place(&mut self, rig: &Rig, scenario: &Scenario) -> Result<()> {
        Self::twin(rig)?.place(scenario)
    }

    fn verdict(&mut self, rig: &Rig, _report: &EpisodeReport) -> Result<Option<OutcomeKind>> {
        let truth = Self::twin(rig)?.truth();
        Ok(Some(truth.and_then(|t| t.outcome).map_or(OutcomeKind::Timeout, |o| o.kind)))
    }
}

/// The person at the keyboard: answers are read line by line from `input`, prompts go to
/// `prompt` (a terminal's stderr, say).
pub struct KeyboardOperator<R: BufRead, W: Write> {
    input: std::io::Lines<R>,
    prompt: W,
}

impl<R: BufRead, W: Write> KeyboardOperator<R, W> {
    /// Reads answers from `input` and writes prompts to `prompt`.
    pub fn new(input: R, prompt: W) -> Self {
        Self { input: input.lines(), prompt }
    }

    /// One trimmed, lower-case answer line; `None` at the end of input.
    fn ask(&mut self, question: &str) -> Result<Option<String>> {
        write!(self.prompt, "{question} ").and_then(|_| self.prompt.flush()).map_err(HardwareError::Operator)?;
        match self.input.next() {
            Some(line) => Ok(Some(line.map_err(HardwareError::Operator)?.trim().to_lowercase())),
            None => Ok(None),
        }
    }
}

impl<R: BufRead, W: Write> Operator for KeyboardOperator<R, W> {
    fn set_up(&mut self, _trial: usize, _of: usize, _what: &str) -> Result<SetUp> {
        Ok(match self.ask("Enter to run, s to skip, q to quit:")?.as_deref() {
            None | Some("q") => SetUp::Quit,
            Some("s") => SetUp::Skip,
            Some(_) => SetUp::Run,
        })
    }

    fn clear(&mut self, _rig: &Rig) -> Result<()> {
        Ok(())
    }

    fn place(&mut self, _rig: &Rig, _scenario: &Scenario) -> Result<()> {
        Ok(())
    }

    fn verdict(&mut self, _rig: &Rig, _report: &EpisodeReport) -> Result<Option<OutcomeKind>> {
        self.read_verdict()
    }
}

impl<R: BufRead, W: Write> KeyboardOperator<R, W> {
    /// Asks for an outcome name until one parses; `None` at the end of input.
    fn read_verdict(&mut self) -> Result<Option<OutcomeKind>> {
        loop {
            let Some(answer) = self.ask(&format!("verdict ({}):", OutcomeKind::names()))? else { return Ok(None) };
            match answer.parse() {
                Ok(kind) => return Ok(Some(kind)),
                Err(e) => writeln!(self.prompt, "{e}").map_err(HardwareError::Operator)?,
            }
        }
    }
}

/// How the operator is told the object and where it goes.
pub fn describe(s: &Scenario) -> String {
    let e = s.object.shape.extents();
    format!(
        "{:?} {:.1} × {:.1} × {:.1} cm, {:.0} g{}, centre at x = {:.3} m, y = {:.3} m, yaw {:.0}°",
        s.object.shape.kind(),
        100.0 * e[0],
        100.0 * e[1],
        100.0 * e[2],
        1000.0 * s.object.mass,
        if s.object.pose.lying { ", lying" } else { "" },
        s.object.pose.x,
        s.object.pose.y,
        s.object.pose.yaw.to_degrees()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyboard_operator_reads_set_ups_and_asks_again_for_a_bad_verdict() {
        let input = "\ns\nq\n";
        let mut op = KeyboardOperator::new(input.as_bytes(), Vec::new());
        assert_eq!(op.set_up(0, 3, "a box").unwrap(), SetUp::Run);
        assert_eq!(op.set_up(1, 3, "a box").unwrap(), SetUp::Skip);
        assert_eq!(op.set_up(2, 3, "a box").unwrap(), SetUp::Quit);
        assert_eq!(op.set_up(2, 3, "a box").unwrap(), SetUp::Quit, "the end of input quits");

        let mut op = KeyboardOperator::new("slipped\n  Missed_Grasp \n".as_bytes(), Vec::new());
        assert_eq!(op.read_verdict().unwrap(), Some(OutcomeKind::MissedGrasp));
        let said = String::from_utf8(op.prompt.clone()).unwrap();
        assert!(said.contains("`slipped` is not an outcome") && said.contains("slip_during_lift"), "{said}");
        assert_eq!(op.read_verdict().unwrap(), None, "input ended: no verdict");
    }
}
