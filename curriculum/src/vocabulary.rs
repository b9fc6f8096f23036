//! The curriculum's vocabulary, spelled once: a generation's status, the suites a run's
//! ledger records evaluations on, and the ledger's metadata keys. Each is an enum with one
//! `as_str`/`Display` and one `FromStr`, so the strings stored in a ledger and shown in reports
//! and episode ids cannot drift apart.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a generation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerationStatus {
    /// Its curriculum is recorded; the challenger is training or not yet judged.
    Training,
    /// The gate promoted the challenger: it is the champion from this generation on.
    Promoted,
    /// The gate refused the challenger; the champion stays.
    RolledBack,
}

impl GenerationStatus {
    /// Every status.
    pub const ALL: [GenerationStatus; 3] = [Self::Training, Self::Promoted, Self::RolledBack];

    /// The name stored in the ledger and shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Training => "training",
            Self::Promoted => "promoted",
            Self::RolledBack => "rolled_back",
        }
    }

    /// Whether the gate has decided the generation.
    pub fn is_decided(self) -> bool {
        self != Self::Training
    }
}

impl fmt::Display for GenerationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GenerationStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a generation status (one of: training, promoted, rolled_back)"))
    }
}

/// A suite a run's ledger holds evaluations of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suite {
    /// The probe set: training-space scenarios whose failures the curriculum aims at.
    Probe,
    /// The frozen held-out suite the gate judges on.
    Heldout,
    /// The frozen out-of-distribution suite the gate judges on.
    Ood,
    /// The frozen canary suite the gate judges on.
    Canary,
    /// The boundary probe of a generation (scenarios near the champion's failures).
    Boundary(u32),
    /// The N-th real-world validation (`regrasp hw validate`) of a policy (1-based).
    Real(u32),
    /// The final test's held-out suite, which nothing in the loop sees.
    TestHeldout,
    /// The final test's OOD suite, which nothing in the loop sees.
    TestOod,
}

impl Suite {
    /// The suites every champion and challenger is judged on, in the gate's order.
    pub const GATE: [Suite; 4] = [Suite::Probe, Suite::Heldout, Suite::Ood, Suite::Canary];

    /// The final-test suites.
    pub const FINAL_TEST: [Suite; 2] = [Suite::TestHeldout, Suite::TestOod];

    /// Whether the suite's failures feed the failure archive (and so the curriculum): the
    /// probe set, boundary probes and real-world trials. The frozen suites never do.
    pub fn feeds_archive(self) -> bool {
        matches!(self, Suite::Probe | Suite::Boundary(_) | Suite::Real(_))
    }

    /// The name as a file-name part (`boundary-3`): no `/`.
    pub fn file_stem(self) -> String {
        self.to_string().replace('/', "-")
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Suite::Probe => f.write_str("probe"),
            Suite::Heldout => f.write_str("heldout"),
            Suite::Ood => f.write_str("ood"),
            Suite::Canary => f.write_str("canary"),
            Suite::Boundary(g) => write!(f, "boundary/{g}"),
            Suite::Real(n) => write!(f, "real/{n}"),
            Suite::TestHeldout => f.write_str("test-heldout"),
            Suite::TestOod => f.write_str("test-ood"),
        }
    }
}

impl FromStr for Suite {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let numbered = |rest: &str| rest.parse::<u32>().ok();
        let suite = match s {
            "probe" => Some(Suite::Probe),
            "heldout" => Some(Suite::Heldout),
            "ood" => Some(Suite::Ood),
            "canary" => Some(Suite::Canary),
            "test-heldout" => Some(Suite::TestHeldout),
            "test-ood" => Some(Suite::TestOod),
            _ => match s.split_once('/') {
                Some(("boundary", g)) => numbered(g).map(Suite::Boundary),
                Some(("real", n)) => numbered(n).map(Suite::Real),
                _ => None,
            },
        };
        suite.ok_or_else(|| {
            format!(
                "`{s}` is not a run suite (one of: probe, heldout, ood, canary, boundary/<generation>, real/<n>, \
                 test-heldout, test-ood)"
            )
        })
    }
}

impl Serialize for Suite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Suite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A key of the ledger's `meta` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaKey {
    /// The run's `ImproveConfig` as TOML (the budget may change on resume; nothing else).
    Config,
    /// The curriculum's name (`targeted` or `uniform`), for a reader that does not parse the
    /// config.
    Curriculum,
    /// The content hash of the arm description the run was made for (16 hex digits).
    ArmHash,
    /// Why the loop stopped; absent while the run may go on.
    StopReason,
    /// Env steps the warm start took.
    WarmStartEnvSteps,
}

impl MetaKey {
    /// The key as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MetaKey::Config => "config",
            MetaKey::Curriculum => "curriculum",
            MetaKey::ArmHash => "arm_hash",
            MetaKey::StopReason => "stop_reason",
            MetaKey::WarmStartEnvSteps => "warm_start_env_steps",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_and_status_prints_and_parses_back() {
        let suites = [
            Suite::Probe,
            Suite::Heldout,
            Suite::Ood,
            Suite::Canary,
            Suite::Boundary(0),
            Suite::Boundary(17),
            Suite::Real(1),
            Suite::TestHeldout,
            Suite::TestOod,
        ];
        for s in suites {
            assert_eq!(s.to_string().parse::<Suite>(), Ok(s));
            assert!(!s.file_stem().contains('/'));
        }
        for s in GenerationStatus::ALL {
            assert_eq!(s.as_str().parse::<GenerationStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
    }

    #[test]
    fn malformed_suite_names_are_refused_with_the_choices() {
        for bad in ["", "boundary", "boundary/", "boundary/x", "real/-1", "heldout/1", "Probe", "boundary-3"] {
            let e = bad.parse::<Suite>().unwrap_err();
            assert!(e.contains("not a run suite") && e.contains("boundary/<generation>"), "{bad}: {e}");
        }
        assert!("done".parse::<GenerationStatus>().unwrap_err().contains("rolled_back"));
    }

    #[test]
    fn only_probe_boundary_and_real_suites_feed_the_archive() {
        assert!(Suite::Probe.feeds_archive() && Suite::Boundary(2).feeds_archive() && Suite::Real(1).feeds_archive());
        for s in [Suite::Heldout, Suite::Ood, Suite::Canary, Suite::TestHeldout, Suite::TestOod] {
            assert!(!s.feeds_archive(), "{s}");
        }
    }
}
