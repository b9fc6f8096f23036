//! regrasp-curriculum: the self-improvement loop.
//!
//! The champion policy is evaluated on a probe set of training scenarios; its failures go into
//! a [`archive::FailureArchive`]; curriculum [`generators`] (uniform, replay, boundary, mutate),
//! mixed by an EXP3 [`bandit`], propose the next training scenarios; a challenger trains on
//! them; the promotion [`gate`] compares it with the champion on frozen held-out, OOD and canary
//! suites that the [`firewall`] keeps out of training; the [`ledger`] records everything in
//! SQLite; [`improve`] runs the loop and [`report`] shows what it achieved, measured afresh by
//! the [`final_test`] on suites the loop never sees; [`locality`] measures whether a policy's
//! failures are local in scenario space (something to aim at).

pub mod archive;
pub mod bandit;
pub mod config;
pub mod error;
pub mod final_test;
pub mod firewall;
pub mod gate;
pub mod generators;
pub mod improve;
pub mod ledger;
pub mod locality;
pub mod report;
pub mod run;
pub mod sweep;
pub mod testing;
pub mod vocabulary;

pub use config::{CurriculumMode, ImproveConfig};
pub use error::{CurriculumError, Result};
pub use improve::{ImproveEvent, ImproveOptions, ImproveSummary, improve};
pub use ledger::Ledger;
