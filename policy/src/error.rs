//! Errors of the policy crate: bad checkpoints and configs name the file and what is wrong.

use std::path::PathBuf;

/// Everything that can go wrong in `regrasp-policy`.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint is missing a part, truncated, altered or unreadable.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint does not fit the env it is used with.
    #[error("checkpoint {path} does not fit: {what} is {found} in the checkpoint but {expected} here")]
    Mismatch {
        /// The checkpoint.
        path: PathBuf,
        /// What differs.
        what: String,
        /// The value here.
        expected: String,
        /// The value in the checkpoint.
        found: String,
    },
    /// A config file or field is invalid.
    #[error("{source_name}: {message}")]
    Config {
        /// The file or input.
        source_name: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// An episode file holds a line that is not an episode record.
    #[error("{path}, line {line}: not an episode record: {message}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// An episode id names no stored episode.
    #[error("episode {id}: {why}")]
    NoEpisode {
        /// The id asked for.
        id: String,
        /// Why it does not resolve, and what there is.
        why: String,
    },
    /// An error from the simulation.
    #[error(transparent)]
    Sim(#[from] regrasp_sim::SimError),
    /// The policy produced a non-finite action.
    #[error("the policy produced a non-finite action {0:?}")]
    NonFiniteAction([f32; 5]),
}

/// Result alias of this crate.
pub type Result<T, E = PolicyError> = std::result::Result<T, E>;
