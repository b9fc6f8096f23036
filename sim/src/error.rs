//! Errors of the simulation crate: every one names the file (or input) and the field at fault.

use std::path::PathBuf;

/// Everything that can go wrong in `regrasp-sim`. Bad input is always one of these, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file could not be parsed (syntax, missing or mistyped field).
    #[error("{source_name}: {message}")]
    Parse {
        /// The file or input that was being parsed.
        source_name: String,
        /// What the parser said, including the field where it knows it.
        message: String,
    },
    /// A field holds a value outside its allowed range.
    #[error("{source_name}: field `{field}` = {value} is out of range; allowed {allowed}")]
    OutOfRange {
        /// The file or input.
        source_name: String,
        /// Dotted path of the field.
        field: String,
        /// The offending value, as text.
        value: String,
        /// The allowed range, as text (e.g. `[0.02, 0.08] m`).
        allowed: String,
    },
    /// A field is well-formed but inconsistent with the rest of the model.
    #[error("{source_name}: field `{field}`: {message}")]
    Invalid {
        /// The file or input.
        source_name: String,
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// An action with a NaN or infinite component was rejected before reaching the physics.
    #[error("action rejected: component `{component}` is not finite ({value})")]
    NonFiniteAction {
        /// Which action component.
        component: &'static str,
        /// The value, as text.
        value: String,
    },
    /// `step` was called before `reset` or after the episode ended.
    #[error("env is not running an episode: {0}")]
    NotRunning(&'static str),
    /// A stored episode did not reproduce on replay.
    #[error(transparent)]
    Diverged(crate::replay::Divergence),
}

impl SimError {
    /// Shorthand for [`SimError::OutOfRange`].
    pub fn out_of_range(
        source_name: impl Into<String>,
        field: impl Into<String>,
        value: impl std::fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        SimError::OutOfRange {
            source_name: source_name.into(),
            field: field.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// Shorthand for [`SimError::Invalid`].
    pub fn invalid(source_name: impl Into<String>, field: impl Into<String>, message: impl Into<String>) -> Self {
        SimError::Invalid { source_name: source_name.into(), field: field.into(), message: message.into() }
    }
}

/// Result alias of this crate.
pub type Result<T, E = SimError> = std::result::Result<T, E>;

/// Checks that `value` is finite and inside `[lo, hi]`; the error names `field` and the range.
pub fn check_range(source_name: &str, field: &str, value: f64, lo: f64, hi: f64, unit: &str) -> Result<()> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(())
    } else {
        Err(SimError::out_of_range(source_name, field, value, format!("[{lo}, {hi}] {unit}").trim_end().to_string()))
    }
}
