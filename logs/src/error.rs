//! Errors of the logging crate.

use std::path::PathBuf;

/// Everything that can go wrong while recording, reading episodes or replaying.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A replayed episode did not reproduce its record (final state, outcome, or actions past
    /// the outcome): the record, the code or the arm/env config differs from the one that
    /// produced it.
    #[error("episode {id}: {source}")]
    Diverged {
        /// Episode id.
        id: String,
        /// How it diverged.
        source: regrasp_sim::replay::Divergence,
    },
    /// No episode matches what was asked for.
    #[error("{0}")]
    NotFound(String),
    /// The simulation refused something.
    #[error(transparent)]
    Sim(#[from] regrasp_sim::SimError),
    /// The policy refused something.
    #[error(transparent)]
    Policy(#[from] regrasp_policy::error::PolicyError),
    /// Rerun could not start the recording or its sink.
    #[error("rerun: {0}")]
    Rerun(String),
    /// A thread pool for a measurement could not be built.
    #[error("thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    /// An .rrd file could not be decoded.
    #[error("{path}: not a readable rerun recording: {message}")]
    Rrd {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, LogsError>;
