//! Conversions at the boundary: Rust errors into the Python exceptions users catch, `f32`
//! arrays to and from bytes, and serde values into Python objects.

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use regrasp_policy::PolicyError;
use regrasp_sim::Action;
use regrasp_sim::SimError;
use regrasp_sim::action::ACTION_DIM;
use regrasp_sim::config::ActionLimits;

use crate::ReplayDivergence;

/// A simulation error as a Python exception: bad input (a file, a field, a scenario, a
/// non-finite action) is a `ValueError`, a file that cannot be read an `OSError`, a step
/// outside an episode a `RuntimeError`, a replay that does not reproduce a `ReplayDivergence`.
pub fn sim_err(e: SimError) -> PyErr {
    let message = e.to_string();
    match e {
        SimError::Io { .. } => PyOSError::new_err(message),
        SimError::NotRunning(_) => PyRuntimeError::new_err(message),
        SimError::Diverged(_) => ReplayDivergence::new_err(message),
        SimError::Parse { .. }
        | SimError::OutOfRange { .. }
        | SimError::Invalid { .. }
        | SimError::NonFiniteAction { .. } => PyValueError::new_err(message),
    }
}

/// A policy error as a Python exception (`OSError` for files, `ValueError` otherwise).
pub fn policy_err(e: PolicyError) -> PyErr {
    match e {
        PolicyError::Io { .. } => PyOSError::new_err(e.to_string()),
        PolicyError::Sim(s) => sim_err(s),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// `values` as little-endian `f32` bytes (numpy reads them with `frombuffer(..., "<f4")`).
pub fn f32_bytes<'py>(py: Python<'py>, values: &[f32]) -> Bound<'py, PyBytes> {
    let mut out = Vec::with_capacity(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    PyBytes::new(py, &out)
}

/// Normalised actions (`[dx, dy, dz, dyaw, gripper]`, each in [−1, 1]) from little-endian
/// `f32` bytes holding `count` of them; `what` names the input in the error.
pub fn actions_from_bytes(bytes: &[u8], count: usize, what: &str) -> PyResult<Vec<[f32; ACTION_DIM]>> {
    let want = count * ACTION_DIM * 4;
    if bytes.len() != want {
        return Err(PyValueError::new_err(format!(
            "{what}: expected {count} × {ACTION_DIM} float32 values ({want} bytes), got {} bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(ACTION_DIM * 4)
        .map(|chunk| {
            let mut a = [0.0f32; ACTION_DIM];
            for (k, v) in a.iter_mut().enumerate() {
                let b = &chunk[4 * k..4 * k + 4];
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            a
        })
        .collect())
}

/// The action a normalised one stands for (clipped to [−1, 1] as `Action::from_normalized`
/// does), after refusing a NaN or infinite component by name: a policy that emits ±inf has a
/// bug, and clipping would hide it.
pub fn checked_action(a: &[f32; ACTION_DIM], limits: &ActionLimits) -> Result<Action, SimError> {
    let unclipped = Action { translation: [a[0], a[1], a[2]], yaw: a[3], gripper: a[4] };
    unclipped.check_finite()?;
    Ok(Action::from_normalized(a, limits))
}

/// A serde value as a Python object (dicts, lists, floats, ints, strings, `None`).
pub fn to_py<'py, T: serde::Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    let v = serde_json::to_value(value).map_err(|e| PyRuntimeError::new_err(format!("cannot convert: {e}")))?;
    json_to_py(py, &v)
}

fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_pyobject(py)?.into_any(),
            (None, Some(i)) => i.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
