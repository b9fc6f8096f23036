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
    /// A replayed episode did not reproduce its stored final state: the record, the code or
    /// the arm/env config differs from the one that produced it.
    #[error(
        "episode {id}: replay diverged: final state hash {replayed:016x}, stored {stored:016x} \
         (the record was altered, or the code, arm or env config differs from the run that stored it)"
    )]
    HashMismatch {
        /// Episode id.
        id: String,
        /// Hash the replay ended in.
        replayed: u64,
        /// Hash the record stores.
        stored: u64,
    },
    /// A replayed episode ended with another outcome than the stored one.
    #[error("episode {id}: replay ended as {replayed}, stored as {stored}")]
    OutcomeMismatch {
        /// Episode id.
        id: String,
        /// Outcome of the replay.
        replayed: String,
        /// Stored outcome.
        stored: String,
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
