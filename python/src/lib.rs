//! regrasp for Python: the `regrasp._regrasp` extension module. It adds no simulation of its own:
//! Python calls the same `GraspEnv`, suites, classifier, replay and policy inference as the CLI.
//! The Gymnasium classes around it live in `python/regrasp/` (pure Python).
//!
//! Arrays cross the boundary as little-endian `f32` bytes (observations out, normalised actions
//! in), which numpy views without a copy; everything else is plain Python values.

mod convert;
mod env;
mod world;

use pyo3::prelude::*;

pyo3::create_exception!(
    _regrasp,
    ReplayDivergence,
    pyo3::exceptions::PyRuntimeError,
    "A stored episode did not reproduce: another final state, outcome or number of steps."
);

/// The extension module.
#[pymodule]
fn _regrasp(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<world::World>()?;
    m.add_class::<world::PyScenario>()?;
    m.add_class::<world::Episode>()?;
    m.add_class::<world::Policy>()?;
    m.add_class::<env::Env>()?;
    m.add_class::<env::VecEnv>()?;
    m.add_function(wrap_pyfunction!(world::read_episodes, m)?)?;
    m.add_function(wrap_pyfunction!(world::arm_names, m)?)?;
    m.add_function(wrap_pyfunction!(world::suite_names, m)?)?;
    m.add("ReplayDivergence", m.py().get_type::<ReplayDivergence>())?;
    m.add("ACTION_NAMES", regrasp_sim::action::ACTION_NAMES.to_vec())?;
    m.add("OUTCOMES", regrasp_sim::OutcomeKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>())?;
    Ok(())
}
