//! The episode store: evaluated episodes as JSON lines (scenario, policy hash, actions, final
//! state hash, outcome, metrics; the seed is the scenario's), read back with errors that name
//! the file and line (the reader lives beside the writer in `regrasp_policy::eval`), and the sampling rule that picks which episodes are recorded in full.

use std::path::Path;

use regrasp_policy::eval::EpisodeRecord;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Reads an episode file (JSON lines, as written by `regrasp_policy::eval::write_episodes`).
pub fn read_episodes(path: &Path) -> Result<Vec<EpisodeRecord>> {
    Ok(regrasp_policy::eval::read_episodes(path)?)
}

/// Which evaluated episodes are recorded in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sampling {
    /// Every Nth episode of an evaluation (0 = none; 1 = all).
    pub every_nth: usize,
    /// Every failed episode.
    pub failures: bool,
    /// At most this many episodes per evaluation, failures first (0 = no limit).
    pub limit: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Self { every_nth: 50, failures: true, limit: 10 }
    }
}

impl Sampling {
    /// Records nothing in full.
    pub const NONE: Sampling = Sampling { every_nth: 0, failures: false, limit: 0 };

    /// Indices of the episodes to record, in order: failures first, then every Nth, capped.
    pub fn select(&self, records: &[EpisodeRecord]) -> Vec<usize> {
        let mut picked: Vec<usize> = Vec::new();
        if self.failures {
            picked.extend((0..records.len()).filter(|&i| records[i].outcome.kind.is_failure()));
        }
        if self.every_nth > 0 {
            picked.extend(
                (0..records.len())
                    .step_by(self.every_nth)
                    .filter(|i| !records[*i].outcome.kind.is_failure() || !self.failures),
            );
        }
        if self.limit > 0 {
            picked.truncate(self.limit);
        }
        picked.sort_unstable();
        picked
    }
}
