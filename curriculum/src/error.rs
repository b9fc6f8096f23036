//! Errors of the curriculum crate: each names the file, table or field that is wrong.

use std::path::PathBuf;

/// Everything that can go wrong in `regrasp-curriculum`.
#[derive(Debug, thiserror::Error)]
pub enum CurriculumError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The SQLite ledger failed.
    #[error("ledger {path}: {source}")]
    Ledger {
        /// The ledger file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// The ledger was written by another schema version.
    #[error("ledger {path}: schema version {found} is not supported (this regrasp reads version {supported}); {hint}")]
    Schema {
        /// The ledger file.
        path: PathBuf,
        /// `PRAGMA user_version` found.
        found: i64,
        /// The version this build reads.
        supported: i64,
        /// What to do.
        hint: &'static str,
    },
    /// The ledger's content is inconsistent (a row that cannot be decoded).
    #[error("ledger {path}: {what}")]
    Corrupt {
        /// The ledger file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A frozen evaluation scenario reached training or the curriculum.
    #[error("firewall: {0}")]
    Firewall(String),
    /// A config is invalid.
    #[error("{source_name}: {message}")]
    Config {
        /// The file or text it came from.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A run directory is not in the state the command needs.
    #[error("{path}: {message}")]
    Run {
        /// The run directory.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// A checkpoint is not certified to drive this arm (the certificate rule refused it).
    #[error("not certified to drive an arm: {0}")]
    Uncertified(String),
    /// The simulation failed.
    #[error(transparent)]
    Sim(#[from] regrasp_sim::SimError),
    /// Training, checkpoints or evaluation failed.
    #[error(transparent)]
    Policy(#[from] regrasp_policy::PolicyError),
    /// The report plot could not be drawn.
    #[error("plot {path}: {message}")]
    Plot {
        /// The image file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, CurriculumError>;
