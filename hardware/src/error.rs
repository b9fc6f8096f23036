//! Errors of the hardware bridge.

/// What can go wrong between the bridge and the arm.
#[derive(Debug, thiserror::Error)]
pub enum HardwareError {
    /// The serial port could not be opened or configured.
    #[error("serial port {port}: {message}")]
    Port {
        /// Port path.
        port: String,
        /// What failed.
        message: String,
    },
    /// Reading or writing the link failed.
    #[error("serial link {port}: {source}")]
    Io {
        /// Port path.
        port: String,
        /// Why.
        source: std::io::Error,
    },
    /// No (valid) answer in time.
    #[error("{0}: no answer from the arm within {1} ms")]
    Timeout(String, u64),
    /// The arm answered and followed, but did not reach a pose it was sent to in time.
    #[error(
        "{what}: the arm did not reach its target within {seconds} s ({detail}); check that nothing blocks it (the object, the table, a cable), then run again"
    )]
    NotReached {
        /// What was moving (homing).
        what: String,
        /// The time allowed (s).
        seconds: u64,
        /// The joints short of their targets, with their loads.
        detail: String,
    },
    /// The arm answered, but not as the bridge expects (another joint count, other limits).
    #[error("the arm does not match: {0}")]
    Mismatch(String),
    /// The arm refused a command.
    #[error("the arm refused {command}: {status}")]
    Refused {
        /// The command.
        command: String,
        /// The firmware's status.
        status: String,
    },
    /// The safety envelope stopped the arm.
    #[error("safety envelope stop: {0}")]
    EnvelopeStop(String),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// The policy failed (a non-finite output, a bad checkpoint).
    #[error("policy: {0}")]
    Policy(String),
    /// The pre-flight simulation predicts a failure or an unsafe contact.
    #[error("pre-flight refused the episode: {0}")]
    Preflight(String),
    /// The run directory refused: no certificate for the checkpoint, a ledger that cannot be
    /// read or written, a run made for another arm.
    #[error(transparent)]
    Run(#[from] regrasp_curriculum::CurriculumError),
    /// The simulation (the pre-flight, the twin, the ready pose) failed.
    #[error(transparent)]
    Sim(#[from] regrasp_sim::SimError),
    /// The recording failed.
    #[error(transparent)]
    Recording(#[from] regrasp_logs::LogsError),
    /// Reading the operator's answers failed.
    #[error("operator input: {0}")]
    Operator(std::io::Error),
    /// The validation protocol ended without a result to record.
    #[error("validation: {0}")]
    Validation(String),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, HardwareError>;
