//! Live mode: a policy (or the scripted grasp) acting in a [`GraspEnv`], one control step at a
//! time, on scenarios from a suite or drawn from the training distribution by seed. Pausing,
//! single steps, resets, the next scenario and pokes at the object are plain methods, so the
//! key bindings stay thin and the behaviour is tested without a window.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use nalgebra::Vector3;
use regrasp_policy::eval::LoadedPolicy;
use regrasp_policy::inference::Scratch;
use regrasp_sim::scene::{SceneGeometry, SceneState};
use regrasp_sim::scripted::{ScriptedGrasp, ScriptedParams};
use regrasp_sim::suite::EvalSuite;
use regrasp_sim::{Action, ArmModel, EnvConfig, GraspEnv, Outcome, Scenario, ScenarioDistribution};

/// Who acts.
pub enum Pilot {
    /// The scripted reference grasp (it reads the true object pose).
    Scripted,
    /// A trained checkpoint, acting deterministically (its mean action).
    Policy(Box<LoadedPolicy>),
}

impl Pilot {
    /// Loads a checkpoint directory for `arm` and observations of `obs_dim` values.
    pub fn load(path: &Path, arm: &ArmModel, obs_dim: usize) -> Result<Self> {
        let p =
            LoadedPolicy::load(path, arm, obs_dim).with_context(|| format!("loading the policy {}", path.display()))?;
        Ok(Pilot::Policy(Box::new(p)))
    }

    /// A short name for the panel.
    pub fn name(&self) -> String {
        match self {
            Pilot::Scripted => "scripted grasp".into(),
            Pilot::Policy(p) => format!("policy {}", p.hash),
        }
    }
}

/// Where scenarios come from.
pub enum Scenarios {
    /// A suite's scenarios, in order.
    Suite {
        /// Suite name.
        name: String,
        /// Its scenarios.
        list: Vec<Scenario>,
    },
    /// The training distribution, one seed after another.
    Seeds {
        /// The distribution.
        distribution: ScenarioDistribution,
    },
}

impl Scenarios {
    /// A shipped suite by name (the arm's own, for an arm with `task`) or a suite file.
    pub fn suite(name: &str, task: &regrasp_sim::Task) -> Result<Self> {
        let s = EvalSuite::load(name, task).with_context(|| format!("loading the suite {name}"))?;
        Ok(Scenarios::Suite { name: s.name.clone(), list: s.scenarios() })
    }

    /// The `index`-th scenario (suites wrap around; seeds start at `first_seed`).
    fn get(&self, first_seed: u64, index: u64) -> Scenario {
        match self {
            Scenarios::Suite { list, .. } => list[(index % list.len().max(1) as u64) as usize],
            Scenarios::Seeds { distribution } => distribution.sample(first_seed.wrapping_add(index)),
        }
    }
}

/// The live simulation and everything the panel shows about it.
pub struct Live {
    env: GraspEnv,
    pilot: Pilot,
    scenarios: Scenarios,
    first_seed: u64,
    index: u64,
    scripted: Option<ScriptedGrasp>,
    scratch: Scratch,
    obs: Vec<f32>,
    geometry: Arc<SceneGeometry>,
    /// The scenario running now.
    pub scenario: Scenario,
    /// The last action taken.
    pub last_action: Option<Action>,
    /// The policy's value estimate of the current observation (policies only).
    pub value: Option<f32>,
    /// How the episode ended, once it has.
    pub outcome: Option<Outcome>,
    /// Control steps taken in this episode.
    pub steps: u32,
    /// Pokes applied in this episode (it then no longer replays from its actions alone).
    pub pushes: u32,
    /// Whether time stands still (single steps still work).
    pub paused: bool,
    /// Unspent simulated time (s) carried between frames.
    pending_s: f64,
}

/// The impulse of one poke (N·s).
pub const PUSH_IMPULSE: f64 = 0.02;

impl Live {
    /// A live simulation of `pilot` on the first scenario of `scenarios`.
    pub fn new(
        arm: Arc<ArmModel>,
        cfg: Arc<EnvConfig>,
        pilot: Pilot,
        scenarios: Scenarios,
        first_seed: u64,
    ) -> Result<Self> {
        if let Scenarios::Suite { name, list } = &scenarios {
            anyhow::ensure!(!list.is_empty(), "the suite {name} holds no scenarios");
        }
        let env = GraspEnv::new(arm, cfg)?;
        let scenario = scenarios.get(first_seed, 0);
        let mut live = Live {
            env,
            pilot,
            scenarios,
            first_seed,
            index: 0,
            scripted: None,
            scratch: Scratch::default(),
            obs: Vec::new(),
            geometry: Arc::default(),
            scenario,
            last_action: None,
            value: None,
            outcome: None,
            steps: 0,
            pushes: 0,
            paused: false,
            pending_s: 0.0,
        };
        live.reset()?;
        Ok(live)
    }

    /// Restarts the current scenario.
    pub fn reset(&mut self) -> Result<()> {
        self.obs =
            self.env.reset(&self.scenario).with_context(|| format!("resetting scenario {}", self.scenario.seed))?;
        self.scripted = matches!(self.pilot, Pilot::Scripted)
            .then(|| ScriptedGrasp::new(&self.scenario, self.env.arm(), ScriptedParams::default()));
        self.geometry = Arc::new(self.env.scene_geometry().context("no episode after reset")?);
        self.last_action = None;
        self.outcome = None;
        self.steps = 0;
        self.pushes = 0;
        self.pending_s = 0.0;
        self.value = self.estimate_value();
        Ok(())
    }

    /// Moves on to the next scenario and starts it.
    pub fn next_scenario(&mut self) -> Result<()> {
        self.index += 1;
        self.scenario = self.scenarios.get(self.first_seed, self.index);
        self.reset()
    }

    /// Takes one control step (nothing once the episode has ended). Returns whether it stepped.
    pub fn step(&mut self) -> Result<bool> {
        if self.outcome.is_some() {
            return Ok(false);
        }
        let limits = self.env.config().action;
        let action = match &self.pilot {
            Pilot::Scripted => {
                let p = self.env.privileged().context("no episode running")?;
                self.scripted
                    .get_or_insert_with(|| {
                        ScriptedGrasp::new(&self.scenario, self.env.arm(), ScriptedParams::default())
                    })
                    .act(&p, &limits)
            }
            Pilot::Policy(p) => p.act(&self.obs, &limits, &mut self.scratch)?,
        };
        let step = self.env.step(&action)?;
        self.obs = step.obs;
        self.last_action = Some(action);
        self.outcome = step.outcome;
        self.steps += 1;
        self.value = self.estimate_value();
        Ok(true)
    }

    /// Advances by `dt_s` seconds of wall time at real-time speed, at most `max_steps` control
    /// steps; nothing while paused. Returns the steps taken.
    pub fn advance(&mut self, dt_s: f64, max_steps: u32) -> Result<u32> {
        if self.paused || self.outcome.is_some() || !dt_s.is_finite() || dt_s <= 0.0 {
            self.pending_s = 0.0;
            return Ok(0);
        }
        let period = self.env.config().control_dt();
        self.pending_s = (self.pending_s + dt_s).min(period * max_steps as f64);
        let mut taken = 0;
        while self.pending_s + 1e-12 >= period && taken < max_steps {
            self.pending_s -= period;
            if !self.step()? {
                break;
            }
            taken += 1;
        }
        Ok(taken)
    }

    /// Pokes the object horizontally or upwards along `direction` (world; normalised here).
    pub fn push(&mut self, direction: Vector3<f64>) -> Result<()> {
        let n = direction.norm();
        anyhow::ensure!(n > 0.0 && n.is_finite(), "a push needs a direction");
        self.env.push_object(direction / n * PUSH_IMPULSE)?;
        self.pushes += 1;
        Ok(())
    }

    /// The geometry of the current episode.
    pub fn geometry(&self) -> Arc<SceneGeometry> {
        Arc::clone(&self.geometry)
    }

    /// Body poses and contacts now.
    pub fn state(&self) -> SceneState {
        self.env.scene_state().unwrap_or_default()
    }

    /// Simulated time of the episode (s).
    pub fn time_s(&self) -> f64 {
        self.steps as f64 * self.env.config().control_dt()
    }

    fn estimate_value(&mut self) -> Option<f32> {
        let Pilot::Policy(p) = &self.pilot else { return None };
        let mut x = vec![0.0f32; self.obs.len()];
        p.norm.apply(&self.obs, &mut x);
        Some(p.net.value(&x, &mut self.scratch))
    }

    /// The panel's text: source, scenario, action, value and outcome.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let source = match &self.scenarios {
            Scenarios::Suite { name, list } => {
                format!("suite {name} [{}/{}]", self.index as usize % list.len().max(1) + 1, list.len())
            }
            Scenarios::Seeds { .. } => "training distribution".to_string(),
        };
        let _ = writeln!(s, "LIVE  {}  |  {source}", self.pilot.name());
        s.push_str(&describe_scenario(&self.scenario));
        let _ = writeln!(
            s,
            "t = {:.2} s  (step {}){}",
            self.time_s(),
            self.steps,
            if self.paused { "  PAUSED" } else { "" }
        );
        s.push_str(&describe_action(self.last_action.as_ref()));
        if let Some(v) = self.value {
            let _ = writeln!(s, "value estimate {v:.3}");
        }
        if self.pushes > 0 {
            let _ = writeln!(s, "pushed {} x {PUSH_IMPULSE} N s (not replayable from actions)", self.pushes);
        }
        match &self.outcome {
            Some(o) => {
                let _ = writeln!(s, "OUTCOME {} after {:.2} s", o.kind.name(), o.evidence.time);
            }
            None => s.push_str("outcome: running\n"),
        }
        s
    }
}

/// A scenario's parameters, a few lines of text.
pub fn describe_scenario(sc: &Scenario) -> String {
    let o = &sc.object;
    let e = o.shape.extents();
    format!(
        "scenario seed {}\n  {:?} {:.0}x{:.0}x{:.0} mm, {:.0} g, mu {:.2}\n  at ({:.3}, {:.3}) m, yaw {:.0} deg{}\n  friction x{:.2}, grip force x{:.2}, noise {:.3}, latency {}\n",
        sc.seed,
        o.shape.kind(),
        e[0] * 1e3,
        e[1] * 1e3,
        e[2] * 1e3,
        o.mass * 1e3,
        o.friction,
        o.pose.x,
        o.pose.y,
        o.pose.yaw.to_degrees(),
        if o.pose.lying { ", lying" } else { "" },
        sc.physics.friction_scale,
        sc.physics.gripper_force_scale,
        sc.sensing.observation_noise,
        sc.sensing.action_latency,
    )
}

/// An action, one line: tool displacement (mm), yaw change (°), gripper command.
pub fn describe_action(a: Option<&Action>) -> String {
    match a {
        Some(a) => format!(
            "action d({:+.1}, {:+.1}, {:+.1}) mm  dyaw {:+.1} deg  gripper {:+.2}\n",
            a.translation[0] * 1e3,
            a.translation[1] * 1e3,
            a.translation[2] * 1e3,
            a.yaw.to_degrees(),
            a.gripper
        ),
        None => "action -\n".to_string(),
    }
}
