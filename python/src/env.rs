//! `Env` (one `GraspEnv`) and `VecEnv` (many, stepped in parallel in Rust with the interpreter
//! released): the cores of the Gymnasium classes in `regrasp/envs.py`.
//!
//! Seeds: `reset(seed=s)` starts the training-scenario stream `s`; the k-th reset after it
//! draws `SeedSpace::training_seed(s, k)` from the world's distribution, so a Python learner can
//! never draw a held-out, OOD or canary scenario (those come only from suites, given with
//! `scenario=`). Without any seed the stream is 0: every run is reproducible.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use rayon::prelude::*;
use regrasp_sim::suite::SeedSpace;
use regrasp_sim::{GraspEnv, OutcomeKind, Scenario, Step};

use crate::convert::{actions_from_bytes, checked_action, f32_bytes, sim_err};
use crate::world::{PyScenario, World, outcome_info};

/// A stream of training scenarios: run seed and the next index.
#[derive(Clone, Copy, Default)]
struct Stream {
    seed: u64,
    next: u64,
}

impl Stream {
    fn draw(&mut self, world: &World) -> Scenario {
        let s = world.dist.sample(SeedSpace::training_seed(self.seed, self.next));
        self.next += 1;
        s
    }
}

/// What `Env.step` returns: observation bytes, reward, terminated, truncated, info.
type StepOut<'py> = (Bound<'py, PyBytes>, f64, bool, bool, Bound<'py, PyDict>);

/// What `VecEnv.step` returns: observation bytes, rewards, terminated and truncated flags, and
/// the info of each env whose episode ended.
type VecStepOut<'py> = (Bound<'py, PyBytes>, Vec<f64>, Vec<bool>, Vec<bool>, Vec<Option<Bound<'py, PyDict>>>);

/// Whether an ended episode was cut by the step budget (truncation) rather than decided.
fn truncated(step: &Step) -> bool {
    step.outcome.as_ref().is_some_and(|o| o.kind == OutcomeKind::Timeout)
}

/// One grasping env.
#[pyclass(module = "regrasp._regrasp")]
pub struct Env {
    world: Py<World>,
    env: GraspEnv,
    stream: Stream,
    /// Wall time (ns) spent inside `GraspEnv::step`: what the binding's overhead is measured
    /// against (a benchmark figure; it never feeds the simulation).
    sim_nanos: u64,
}

#[pymethods]
impl Env {
    #[new]
    fn new(world: Py<World>) -> PyResult<Self> {
        let w = world.get();
        let env = GraspEnv::new(Arc::clone(&w.arm), Arc::clone(&w.cfg)).map_err(sim_err)?;
        Ok(Self { world, env, stream: Stream::default(), sim_nanos: 0 })
    }

    /// Starts an episode: `scenario` if given, else the next scenario of the training stream
    /// (restarted at `seed` when given). Returns `(observation bytes, scenario)`.
    #[pyo3(signature = (seed = None, scenario = None))]
    fn reset<'py>(
        &mut self,
        py: Python<'py>,
        seed: Option<u64>,
        scenario: Option<PyScenario>,
    ) -> PyResult<(Bound<'py, PyBytes>, PyScenario)> {
        if let Some(s) = seed {
            self.stream = Stream { seed: s, next: 0 };
        }
        let s = match scenario {
            Some(s) => s.0,
            None => self.stream.draw(self.world.get()),
        };
        let obs = self.env.reset(&s).map_err(sim_err)?;
        Ok((f32_bytes(py, &obs), PyScenario(s)))
    }

    /// One control step with a normalised action (float32 bytes of 5 values, clipped to
    /// [−1, 1]). Returns `(observation bytes, reward, terminated, truncated, info)`; a timeout
    /// is truncation, every other outcome termination.
    fn step<'py>(&mut self, py: Python<'py>, action: &[u8]) -> PyResult<StepOut<'py>> {
        let a = actions_from_bytes(action, 1, "action")?[0];
        let w = self.world.get();
        let action = checked_action(&a, &w.cfg.action).map_err(sim_err)?;
        let start = std::time::Instant::now();
        let step = self.env.step(&action);
        self.sim_nanos += start.elapsed().as_nanos() as u64;
        let step = step.map_err(sim_err)?;
        let info = outcome_info(py, step.outcome.as_ref(), &self.env)?;
        let cut = truncated(&step);
        Ok((f32_bytes(py, &step.obs), step.reward, step.done && !cut, cut, info))
    }

    /// Seconds spent inside the simulation's own `step` so far (a benchmark figure: a step's
    /// wall time from Python minus this is what the binding costs).
    #[getter]
    fn sim_seconds(&self) -> f64 {
        self.sim_nanos as f64 * 1e-9
    }

    /// The hash of the current state (bit-exact across runs, threads and languages).
    fn state_hash(&self) -> u64 {
        self.env.state_hash()
    }

    /// The current scenario, if an episode was started.
    #[getter]
    fn scenario(&self) -> Option<PyScenario> {
        self.env.scenario().copied().map(PyScenario)
    }

    /// The world this env runs in.
    #[getter]
    fn world(&self, py: Python<'_>) -> Py<World> {
        self.world.clone_ref(py)
    }
}

/// What one sub-env did in a vector step.
enum Did {
    Stepped(Step),
    Reset(Vec<f32>),
}

/// `n` grasping envs stepped in parallel on a pool of `threads` threads (0 = all cores), with
/// Gymnasium 1.x's next-step autoreset: the step after an episode ends resets that env (its
/// action is ignored) and returns the first observation with reward 0.
#[pyclass(module = "regrasp._regrasp")]
pub struct VecEnv {
    world: Py<World>,
    envs: Vec<GraspEnv>,
    streams: Vec<Stream>,
    needs_reset: Vec<bool>,
    pool: rayon::ThreadPool,
}

#[pymethods]
impl VecEnv {
    #[new]
    #[pyo3(signature = (world, num_envs, threads = 0))]
    fn new(world: Py<World>, num_envs: usize, threads: usize) -> PyResult<Self> {
        if num_envs == 0 {
            return Err(PyValueError::new_err("num_envs must be at least 1"));
        }
        let w = world.get();
        let envs = (0..num_envs)
            .map(|_| GraspEnv::new(Arc::clone(&w.arm), Arc::clone(&w.cfg)))
            .collect::<regrasp_sim::Result<Vec<_>>>()
            .map_err(sim_err)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| PyValueError::new_err(format!("threads: {e}")))?;
        let streams = (0..num_envs as u64).map(|i| Stream { seed: i, next: 0 }).collect();
        Ok(Self { world, envs, streams, needs_reset: vec![false; num_envs], pool })
    }

    /// Number of envs.
    fn __len__(&self) -> usize {
        self.envs.len()
    }

    /// Threads of the pool.
    #[getter]
    fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Resets every env: env i to `scenarios[i]` if given, else to the next scenario of its
    /// training stream (stream `seed + i` when `seed` is given). Returns the observations as
    /// float32 bytes (n × obs_dim) and the scenarios.
    #[pyo3(signature = (seed = None, scenarios = None))]
    fn reset<'py>(
        &mut self,
        py: Python<'py>,
        seed: Option<u64>,
        scenarios: Option<Vec<PyScenario>>,
    ) -> PyResult<(Bound<'py, PyBytes>, Vec<PyScenario>)> {
        let n = self.envs.len();
        if let Some(s) = &scenarios
            && s.len() != n
        {
            return Err(PyValueError::new_err(format!("scenarios: {} given for {n} envs", s.len())));
        }
        if let Some(s) = seed {
            for (i, st) in self.streams.iter_mut().enumerate() {
                *st = Stream { seed: s.wrapping_add(i as u64), next: 0 };
            }
        }
        let w = self.world.get();
        let chosen: Vec<Scenario> = match scenarios {
            Some(s) => s.into_iter().map(|s| s.0).collect(),
            None => self.streams.iter_mut().map(|st| st.draw(w)).collect(),
        };
        for s in &chosen {
            s.validate("scenario").map_err(sim_err)?;
        }
        let envs = &mut self.envs;
        let obs = py
            .detach(|| {
                self.pool.install(|| {
                    envs.par_iter_mut().zip(&chosen).map(|(e, s)| e.reset(s)).collect::<regrasp_sim::Result<Vec<_>>>()
                })
            })
            .map_err(sim_err)?;
        self.needs_reset.fill(false);
        let flat: Vec<f32> = obs.concat();
        Ok((f32_bytes(py, &flat), chosen.into_iter().map(PyScenario).collect()))
    }

    /// One step of every env with normalised actions (float32 bytes, n × 5). Returns the
    /// observations (bytes, n × obs_dim), rewards, terminated and truncated flags, and for each
    /// env whose episode ended on this step its info dict (else `None`). An env whose episode
    /// ended on the previous step is reset instead (next-step autoreset). Every action is
    /// checked before any env moves: a NaN names its env and nothing is stepped.
    fn step<'py>(&mut self, py: Python<'py>, actions: &[u8]) -> PyResult<VecStepOut<'py>> {
        let n = self.envs.len();
        let w = self.world.get();
        let raw = actions_from_bytes(actions, n, "actions")?;
        let mut given = Vec::with_capacity(n);
        for (i, a) in raw.iter().enumerate() {
            given.push(checked_action(a, &w.cfg.action).map_err(|e| PyValueError::new_err(format!("env {i}: {e}")))?);
        }
        let resets: Vec<Option<Scenario>> =
            (0..n).map(|i| if self.needs_reset[i] { Some(self.streams[i].draw(w)) } else { None }).collect();
        let envs = &mut self.envs;
        let did = py
            .detach(|| {
                self.pool.install(|| {
                    envs.par_iter_mut()
                        .zip(&given)
                        .zip(&resets)
                        .map(|((e, a), r)| match r {
                            Some(s) => e.reset(s).map(Did::Reset),
                            None => e.step(a).map(Did::Stepped),
                        })
                        .collect::<regrasp_sim::Result<Vec<_>>>()
                })
            })
            .map_err(sim_err)?;
        let dim = regrasp_sim::ObsLayout::new(w.arm.dof()).len();
        let mut flat = Vec::with_capacity(n * dim);
        let (mut rewards, mut terminated, mut cut, mut infos) =
            (vec![0.0; n], vec![false; n], vec![false; n], Vec::with_capacity(n));
        for (i, d) in did.into_iter().enumerate() {
            match d {
                Did::Reset(obs) => {
                    flat.extend_from_slice(&obs);
                    self.needs_reset[i] = false;
                    infos.push(None);
                }
                Did::Stepped(step) => {
                    flat.extend_from_slice(&step.obs);
                    rewards[i] = step.reward;
                    cut[i] = truncated(&step);
                    terminated[i] = step.done && !cut[i];
                    self.needs_reset[i] = step.done;
                    infos.push(if step.done {
                        Some(outcome_info(py, step.outcome.as_ref(), &self.envs[i])?)
                    } else {
                        None
                    });
                }
            }
        }
        debug_assert_eq!(flat.len(), n * dim);
        Ok((f32_bytes(py, &flat), rewards, terminated, cut, infos))
    }

    /// Every env's state hash.
    fn state_hashes(&self) -> Vec<u64> {
        self.envs.iter().map(|e| e.state_hash()).collect()
    }

    /// The world the envs run in.
    #[getter]
    fn world(&self, py: Python<'_>) -> Py<World> {
        self.world.clone_ref(py)
    }
}
