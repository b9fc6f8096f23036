//! What Python holds besides an env: a `World` (an arm, its env config and its training
//! distribution, resolved exactly as the CLI's `--arm`, `--env-config` and `--distribution`
//! do), scenarios, the frozen suites, stored episodes with their exact replay, and a checkpoint
//! that acts or evaluates.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyType};
use regrasp_policy::eval::{EpisodeRecord, LoadedPolicy, evaluate};
use regrasp_policy::inference::Scratch;
use regrasp_sim::action::ACTION_DIM;
use regrasp_sim::arm::NamedArm;
use regrasp_sim::config::ActionLimits;
use regrasp_sim::scenario::Format;
use regrasp_sim::scripted::{Expert, ScriptedGrasp, ScriptedParams};
use regrasp_sim::suite::{EvalSuite, SeedSpace};
use regrasp_sim::task::overlay;
use regrasp_sim::vec_env::run_episode_with;
use regrasp_sim::{Action, ArmModel, EnvConfig, GraspEnv, ObsLayout, Scenario, ScenarioDistribution};

use crate::convert::{actions_from_bytes, checked_action, f32_bytes, policy_err, sim_err, to_py};

/// An arm with its env config and training distribution: what every env of one setting
/// shares. Built like the CLI's `--arm NAME` (or `--arm URDF --arm-profile PROFILE`),
/// `--env-config FILE` and `--distribution FILE`; `*_overrides` are JSON objects of fields laid
/// over those (a Python dict, serialised by the wrapper).
#[pyclass(frozen, module = "regrasp._regrasp")]
pub struct World {
    pub arm: Arc<ArmModel>,
    pub cfg: Arc<EnvConfig>,
    pub dist: ScenarioDistribution,
}

fn overrides<T: serde::Serialize + serde::de::DeserializeOwned>(
    base: &T,
    json: Option<&str>,
    what: &str,
) -> PyResult<T> {
    let Some(text) = json else { return overlay(base, &toml::Table::new(), what).map_err(sim_err) };
    let table: toml::Table = serde_json::from_str(text).map_err(|e| {
        PyValueError::new_err(format!("{what}: not a table of fields ({e}); give a dict of field values"))
    })?;
    overlay(base, &table, what).map_err(sim_err)
}

#[pymethods]
impl World {
    #[new]
    #[pyo3(signature = (arm = None, arm_profile = None, config = None, config_overrides = None, distribution = None, distribution_overrides = None))]
    fn new(
        arm: Option<&str>,
        arm_profile: Option<PathBuf>,
        config: Option<PathBuf>,
        config_overrides: Option<&str>,
        distribution: Option<PathBuf>,
        distribution_overrides: Option<&str>,
    ) -> PyResult<Self> {
        let arm = ArmModel::from_arg(arm, arm_profile.as_deref()).map_err(sim_err)?;
        let cfg = arm.task.env_config(config.as_deref()).map_err(sim_err)?;
        let cfg = overrides(&cfg, config_overrides, "config")?;
        cfg.validate("config").map_err(sim_err)?;
        let dist = arm.task.scenario_distribution(distribution.as_deref()).map_err(sim_err)?;
        let dist = overrides(&dist, distribution_overrides, "distribution")?;
        dist.validate("distribution").map_err(sim_err)?;
        Ok(Self { arm: Arc::new(arm), cfg: Arc::new(cfg), dist })
    }

    /// The arm's name (its profile's `name`).
    #[getter]
    fn arm_name(&self) -> String {
        self.arm.profile.name.clone()
    }

    /// Observation length: 2 × joints + 33.
    #[getter]
    fn obs_dim(&self) -> usize {
        ObsLayout::new(self.arm.dof()).len()
    }

    /// Every observation entry's name, in order (`shoulder_pan.pos`, `tool.pos.x`, ...).
    #[getter]
    fn obs_names(&self) -> Vec<String> {
        ObsLayout::new(self.arm.dof()).entries(&self.arm).into_iter().map(|e| e.name).collect()
    }

    /// Every observation entry's unit, in order (`1` for dimensionless).
    #[getter]
    fn obs_units(&self) -> Vec<&'static str> {
        ObsLayout::new(self.arm.dof()).entries(&self.arm).into_iter().map(|e| e.unit).collect()
    }

    /// The observation bounds `(low, high)` (±inf where unbounded).
    #[getter]
    fn obs_bounds(&self) -> (Vec<f32>, Vec<f32>) {
        ObsLayout::new(self.arm.dof()).bounds()
    }

    /// Control period (s).
    #[getter]
    fn control_dt(&self) -> f64 {
        self.cfg.control_dt()
    }

    /// Control steps before an episode times out.
    #[getter]
    fn max_steps(&self) -> u32 {
        self.cfg.max_steps()
    }

    /// The largest tool displacement (m) and yaw change (rad) per step: what a normalised
    /// action of ±1 means.
    #[getter]
    fn action_limits(&self) -> (f64, f64) {
        (self.cfg.action.max_translation, self.cfg.action.max_yaw)
    }

    /// The training scenario drawn for `seed`, unchanged: seeds below 2⁶² are training seeds;
    /// suites draw from disjoint ranges above it.
    fn sample(&self, seed: u64) -> PyResult<PyScenario> {
        if !SeedSpace::Train.contains(seed) {
            return Err(PyValueError::new_err(format!(
                "seed {seed} is not a training seed (0 ≤ seed < 2^62); held-out, OOD and canary scenarios come \
                 only from their suites (suite(name))"
            )));
        }
        Ok(PyScenario(self.dist.sample(seed)))
    }

    /// The `index`-th training scenario of a run seeded `seed` (what `Env.reset(seed=...)`
    /// draws): a mix of both, always in the training seed range.
    fn training_scenario(&self, seed: u64, index: u64) -> PyScenario {
        PyScenario(self.dist.sample(SeedSpace::training_seed(seed, index)))
    }

    /// The scenarios of a frozen suite, in order: a shipped name (`train`, `heldout`, `ood`,
    /// `canary`, `test-heldout`, `test-ood`; the arm's own where it has them) or a suite file.
    fn suite(&self, name: &str) -> PyResult<Vec<PyScenario>> {
        let suite = EvalSuite::load(name, &self.arm.task).map_err(sim_err)?;
        Ok(suite.scenarios().into_iter().map(PyScenario).collect())
    }

    /// Runs a privileged controller (`"scripted"` or `"expert"`) on `scenario` in Rust, its
    /// actions passed through their normalised form (exactly what a Python caller can give
    /// back); returns `(actions, final_state_hash, outcome)` with the normalised actions as
    /// float32 bytes (steps × 5): demonstrations, and the reference for determinism checks.
    #[pyo3(signature = (scenario, controller = "expert"))]
    fn demonstrate<'py>(
        &self,
        py: Python<'py>,
        scenario: &PyScenario,
        controller: &str,
    ) -> PyResult<(Bound<'py, PyBytes>, u64, Bound<'py, PyAny>)> {
        let mut env = GraspEnv::new(Arc::clone(&self.arm), Arc::clone(&self.cfg)).map_err(sim_err)?;
        let params = ScriptedParams::default();
        let s = &scenario.0;
        let through_normalized =
            |a: Action, limits: &ActionLimits| Action::from_normalized(&a.to_normalized(limits), limits);
        let run = match controller {
            "scripted" => {
                let mut ctl = ScriptedGrasp::new(s, &self.arm, params);
                py.detach(|| run_episode_with(&mut env, s, |p, l| through_normalized(ctl.act(p, l), l)))
            }
            "expert" => {
                let expert = Expert::new(s, &self.arm, params);
                py.detach(|| run_episode_with(&mut env, s, |p, l| through_normalized(expert.act(s, p, l), l)))
            }
            other => {
                return Err(PyValueError::new_err(format!("controller `{other}` is not one of: scripted, expert")));
            }
        }
        .map_err(sim_err)?;
        let normalized: Vec<f32> = run.actions.iter().flat_map(|a| a.to_normalized(&self.cfg.action)).collect();
        Ok((f32_bytes(py, &normalized), run.final_state_hash, to_py(py, &run.outcome)?))
    }

    /// Replays normalised `actions` (float32 bytes, steps × 5) from `scenario` in Rust until
    /// they run out or an outcome is reached; returns `(steps, final_state_hash, outcome or
    /// None, observations)` with every observation (the first one, then one per step) as
    /// float32 bytes ((steps + 1) × obs_dim).
    fn replay<'py>(
        &self,
        py: Python<'py>,
        scenario: &PyScenario,
        actions: &[u8],
    ) -> PyResult<(usize, u64, Bound<'py, PyAny>, Bound<'py, PyBytes>)> {
        let count = actions.len() / (ACTION_DIM * 4);
        let normalized = actions_from_bytes(actions, count, "actions")?;
        let actions = normalized
            .iter()
            .map(|a| checked_action(a, &self.cfg.action))
            .collect::<Result<Vec<_>, _>>()
            .map_err(sim_err)?;
        let mut env = GraspEnv::new(Arc::clone(&self.arm), Arc::clone(&self.cfg)).map_err(sim_err)?;
        let (steps, hash, outcome, observations) = py
            .detach(|| -> regrasp_sim::Result<_> {
                let mut steps = 0;
                let mut outcome = None;
                let mut observations = env.reset(&scenario.0)?;
                for a in &actions {
                    steps += 1;
                    let step = env.step(a)?;
                    observations.extend_from_slice(&step.obs);
                    if step.outcome.is_some() {
                        outcome = step.outcome;
                        break;
                    }
                }
                Ok((steps, env.state_hash(), outcome, observations))
            })
            .map_err(sim_err)?;
        Ok((steps, hash, to_py(py, &outcome)?, f32_bytes(py, &observations)))
    }

    fn __repr__(&self) -> String {
        format!("World(arm={:?}, obs_dim={}, max_steps={})", self.arm.profile.name, self.obs_dim(), self.max_steps())
    }
}

/// One scenario: an object, its pose, physics and sensing perturbations and the arm's start,
/// all a pure function of its seed and distribution. Frozen; (de)serialised as JSON or TOML.
#[pyclass(frozen, eq, from_py_object, name = "Scenario", module = "regrasp._regrasp")]
#[derive(Clone, PartialEq)]
pub struct PyScenario(pub Scenario);

#[pymethods]
impl PyScenario {
    /// Parses a scenario (JSON or TOML text) and validates it.
    #[classmethod]
    #[pyo3(signature = (text, format = "json"))]
    fn parse(_cls: &Bound<'_, PyType>, text: &str, format: &str) -> PyResult<Self> {
        let f = match format {
            "json" => Format::Json,
            "toml" => Format::Toml,
            other => return Err(PyValueError::new_err(format!("format `{other}` is not one of: json, toml"))),
        };
        Scenario::parse(text, "scenario", f).map(PyScenario).map_err(sim_err)
    }

    /// Loads a scenario file (`.json` or `.toml`).
    #[classmethod]
    fn load(_cls: &Bound<'_, PyType>, path: PathBuf) -> PyResult<Self> {
        Scenario::from_path(&path).map(PyScenario).map_err(sim_err)
    }

    /// The scenario as JSON text (what episode files and `regrasp scripted --scenario` read).
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.0).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The scenario as TOML text.
    fn to_toml(&self) -> PyResult<String> {
        toml::to_string(&self.0).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The scenario as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0)
    }

    /// Its seed.
    #[getter]
    fn seed(&self) -> u64 {
        self.0.seed
    }

    /// The seed space it belongs to: `train`, `heldout`, `ood` or `canary`.
    #[getter]
    fn seed_space(&self) -> Option<&'static str> {
        SeedSpace::of(self.0.seed).map(|s| match s {
            SeedSpace::Train => "train",
            SeedSpace::Heldout => "heldout",
            SeedSpace::Ood => "ood",
            SeedSpace::Canary => "canary",
        })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String, &'static str))> {
        let parse = slf.get_type().getattr("parse")?;
        Ok((parse, (slf.get().to_json()?, "json")))
    }

    fn __repr__(&self) -> String {
        let e = self.0.object.shape.extents();
        format!(
            "Scenario(seed={}, {:?} {:.0}×{:.0}×{:.0} mm, {:.0} g at ({:.3}, {:.3}) m)",
            self.0.seed,
            self.0.object.shape.kind(),
            e[0] * 1e3,
            e[1] * 1e3,
            e[2] * 1e3,
            self.0.object.mass * 1e3,
            self.0.object.pose.x,
            self.0.object.pose.y
        )
    }
}

/// A stored episode (one line of an `episodes.jsonl` that `eval`, `improve` or `hw` wrote).
#[pyclass(frozen, module = "regrasp._regrasp")]
pub struct Episode(EpisodeRecord);

#[pymethods]
impl Episode {
    /// Its scenario.
    #[getter]
    fn scenario(&self) -> PyScenario {
        PyScenario(self.0.scenario)
    }

    /// The policy (checkpoint hash) or controller that acted.
    #[getter]
    fn policy_hash(&self) -> &str {
        &self.0.policy_hash
    }

    /// The stored final state hash.
    #[getter]
    fn final_state_hash(&self) -> u64 {
        self.0.final_state_hash
    }

    /// The stored outcome with its evidence.
    #[getter]
    fn outcome<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0.outcome)
    }

    /// Number of actions.
    fn __len__(&self) -> usize {
        self.0.actions.len()
    }

    /// The actions normalised by `world`'s limits, as float32 bytes (steps × 5).
    fn actions<'py>(&self, py: Python<'py>, world: &World) -> Bound<'py, PyBytes> {
        let v: Vec<f32> = self.0.actions.iter().flat_map(|a| a.to_normalized(&world.cfg.action)).collect();
        f32_bytes(py, &v)
    }

    /// Replays the episode exactly in `world` and checks it against what it claims (every
    /// action taken, the final state hash, the outcome); raises `ReplayDivergence` otherwise.
    /// Returns `(steps, final_state_hash, outcome)`.
    fn replay<'py>(&self, py: Python<'py>, world: &World) -> PyResult<(usize, u64, Bound<'py, PyAny>)> {
        let r = &self.0;
        let mut env = GraspEnv::new(Arc::clone(&world.arm), Arc::clone(&world.cfg)).map_err(sim_err)?;
        let done = py
            .detach(|| {
                regrasp_sim::replay::replay_exact(
                    &mut env,
                    &r.scenario,
                    &r.actions,
                    r.final_state_hash,
                    r.outcome.kind,
                    &mut (),
                )
            })
            .map_err(sim_err)?;
        Ok((done.steps, done.final_state_hash, to_py(py, &done.outcome)?))
    }

    fn __repr__(&self) -> String {
        format!(
            "Episode(seed={}, policy={}, steps={}, outcome={})",
            self.0.scenario.seed,
            self.0.policy_hash,
            self.0.actions.len(),
            self.0.outcome.kind.name()
        )
    }
}

/// Reads an episode file (JSON lines); a bad line is a `ValueError` naming the file and line.
#[pyfunction]
pub fn read_episodes(path: PathBuf) -> PyResult<Vec<Episode>> {
    Ok(regrasp_policy::eval::read_episodes(&path).map_err(policy_err)?.into_iter().map(Episode).collect())
}

/// The shipped arms' names, the default first.
#[pyfunction]
pub fn arm_names() -> Vec<&'static str> {
    NamedArm::ALL.iter().map(|a| a.name()).collect()
}

/// The shipped suites' names.
#[pyfunction]
pub fn suite_names() -> Vec<&'static str> {
    regrasp_sim::suite::shipped::NAMES.to_vec()
}

/// A regrasp checkpoint, checked against a world's arm: its deterministic action for an
/// observation, and its evaluation on a suite (the same code and figures as `regrasp eval`).
#[pyclass(frozen, module = "regrasp._regrasp")]
pub struct Policy {
    policy: LoadedPolicy,
    arm: Arc<ArmModel>,
    cfg: Arc<EnvConfig>,
}

#[pymethods]
impl Policy {
    #[new]
    fn new(world: &World, checkpoint: PathBuf) -> PyResult<Self> {
        let obs_dim = ObsLayout::new(world.arm.dof()).len();
        let policy = LoadedPolicy::load(&checkpoint, &world.arm, obs_dim).map_err(policy_err)?;
        Ok(Self { policy, arm: Arc::clone(&world.arm), cfg: Arc::clone(&world.cfg) })
    }

    /// The checkpoint's content hash.
    #[getter]
    fn hash(&self) -> &str {
        &self.policy.hash
    }

    /// The deterministic normalised action for `obs` (float32 bytes of one observation), as
    /// float32 bytes (5).
    fn act<'py>(&self, py: Python<'py>, obs: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let dim = ObsLayout::new(self.arm.dof()).len();
        if obs.len() != dim * 4 {
            return Err(PyValueError::new_err(format!(
                "observation: expected {dim} float32 values ({} bytes), got {} bytes",
                dim * 4,
                obs.len()
            )));
        }
        let x: Vec<f32> = obs.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let a = self.policy.act(&x, &self.cfg.action, &mut Scratch::default()).map_err(policy_err)?;
        Ok(f32_bytes(py, &a.to_normalized(&self.cfg.action)))
    }

    /// Evaluates the policy on every scenario of `suite` (a shipped name or a suite file) on
    /// `threads` threads (0 = all cores), with the interpreter released; returns the report
    /// (`success_rate`, `ci95`, `outcomes`, ...) as `regrasp eval --json` prints it, and the
    /// episodes.
    #[pyo3(signature = (suite, threads = 0))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        suite: &str,
        threads: usize,
    ) -> PyResult<(Bound<'py, PyAny>, Vec<Episode>)> {
        let s = EvalSuite::load(suite, &self.arm.task).map_err(sim_err)?;
        let scenarios = s.scenarios();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| PyValueError::new_err(format!("threads: {e}")))?;
        let (report, records) = py
            .detach(|| pool.install(|| evaluate(&self.policy, &self.arm, &self.cfg, &s.name, &scenarios, &|| ())))
            .map_err(policy_err)?;
        let dict = to_py(py, &report)?;
        Ok((dict, records.into_iter().map(Episode).collect()))
    }
}

/// A dict of `info` for a finished episode: the outcome's name, whether it succeeded, the
/// failure mode with its evidence, the final state hash, the steps and the safety figures.
pub fn outcome_info<'py>(
    py: Python<'py>,
    outcome: Option<&regrasp_sim::Outcome>,
    env: &GraspEnv,
) -> PyResult<Bound<'py, PyDict>> {
    let info = PyDict::new(py);
    info.set_item("state_hash", env.state_hash())?;
    if let Some(p) = env.privileged() {
        info.set_item("steps", p.steps)?;
    }
    if let Some(s) = env.scenario() {
        info.set_item("scenario_seed", s.seed)?;
    }
    match outcome {
        Some(o) => {
            info.set_item("outcome", o.kind.name())?;
            info.set_item("is_success", !o.kind.is_failure())?;
            info.set_item("failure_mode", o.kind.is_failure().then(|| o.kind.name()))?;
            info.set_item("evidence", to_py(py, &o.evidence)?)?;
            info.set_item("safety", to_py(py, &env.safety().unwrap_or_default())?)?;
        }
        None => {
            info.set_item("outcome", py.None())?;
            info.set_item("is_success", false)?;
        }
    }
    Ok(info)
}
