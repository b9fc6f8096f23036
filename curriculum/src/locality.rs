//! Failure locality: whether a policy's failures mark regions of scenario space that a
//! failure-targeted curriculum can aim at, or scatter like noise. The policy is evaluated on
//! training scenarios, then on neighbours of each: the same scenario with a fresh seed (new
//! sensor noise and perturbations only) and the `mutate` generator's small edit of it. If
//! failures are local, neighbours of a failure fail far more often than neighbours of a success.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use regrasp_policy::eval::{LoadedPolicy, evaluate};
use regrasp_policy::ppo::stream_seed;
use regrasp_sim::suite::SeedSpace;
use regrasp_sim::{ArmModel, EnvConfig, OutcomeKind, Scenario, ScenarioDistribution};
use serde::Serialize;

use crate::config::GeneratorsConfig;
use crate::error::Result;
use crate::generators;

/// Failures among the neighbours of failed and of successful scenarios.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct NeighbourFailures {
    /// Neighbours of a failed scenario that failed, and how many there were.
    pub of_failures: (u64, u64),
    /// Neighbours of a successful scenario that failed, and how many there were.
    pub of_successes: (u64, u64),
}

impl NeighbourFailures {
    /// Tallies neighbours given as (index of the scenario they neighbour, whether they failed)
    /// against whether each scenario failed.
    pub fn tally(failed: &[bool], neighbours: &[(usize, bool)]) -> Self {
        let mut t = Self::default();
        for &(owner, f) in neighbours {
            let slot =
                if failed.get(owner).copied().unwrap_or(false) { &mut t.of_failures } else { &mut t.of_successes };
            slot.0 += f as u64;
            slot.1 += 1;
        }
        t
    }

    /// Failure rate among neighbours of failures and of successes (fractions).
    pub fn rates(&self) -> (f64, f64) {
        let r = |(k, n): (u64, u64)| k as f64 / n.max(1) as f64;
        (r(self.of_failures), r(self.of_successes))
    }
}

/// The measurement.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Locality {
    /// Content hash of the policy.
    pub policy: String,
    /// Training scenarios evaluated.
    pub scenarios: u64,
    /// Failed scenarios.
    pub failures: u64,
    /// Neighbours per scenario asked for (invalid edits are skipped).
    pub neighbours: usize,
    /// The same scenarios with fresh seeds.
    pub new_seed: NeighbourFailures,
    /// The `mutate` generator's edits of them (with fresh seeds).
    pub edited: NeighbourFailures,
}

impl Locality {
    /// The measurement in words.
    pub fn describe(&self) -> String {
        let line = |name: &str, n: &NeighbourFailures| {
            let (a, b) = n.rates();
            format!(
                "{name}: neighbours of a failure fail {}/{} ({:.1} %), neighbours of a success {}/{} ({:.1} %)",
                n.of_failures.0,
                n.of_failures.1,
                100.0 * a,
                n.of_successes.0,
                n.of_successes.1,
                100.0 * b
            )
        };
        format!(
            "policy {}: {}/{} training scenarios failed\n  {}\n  {}\n",
            self.policy,
            self.failures,
            self.scenarios,
            line("same scenario, new seed", &self.new_seed),
            line("mutate edit, new seed", &self.edited)
        )
    }
}

/// Seed streams of the measurement (mixed with its seed).
const BASE: u64 = 201;
const NEW_SEED: u64 = 202;
const EDITED: u64 = 203;

/// Evaluates `policy` on `scenarios` training scenarios of `distribution` (drawn from `seed`)
/// and on `neighbours` neighbours of each of both kinds.
pub fn measure(
    policy: &LoadedPolicy,
    arm: &Arc<ArmModel>,
    env_cfg: &Arc<EnvConfig>,
    distribution: &ScenarioDistribution,
    edit: &GeneratorsConfig,
    scenarios: u64,
    neighbours: usize,
    seed: u64,
) -> Result<Locality> {
    let base: Vec<Scenario> =
        (0..scenarios).map(|i| distribution.sample(SeedSpace::training_seed(stream_seed(seed, BASE, 0), i))).collect();
    let failed_of = |scenarios: &[Scenario]| -> Result<Vec<bool>> {
        let (_, records) = evaluate(policy, arm, env_cfg, "locality", scenarios, &|| {})?;
        Ok(records.iter().map(|r| r.outcome.kind != OutcomeKind::Success).collect())
    };
    let failed = failed_of(&base)?;
    // `neighbours` variants of every scenario, each with a fresh seed of `stream`, tallied
    // under the outcome of the scenario they neighbour (invalid variants are skipped).
    let tally = |stream: u64, vary: &mut dyn FnMut(&Scenario) -> Scenario| -> Result<NeighbourFailures> {
        let mut owners = Vec::new();
        let mut list = Vec::new();
        let mut k = 0u64;
        for (i, s) in base.iter().enumerate() {
            for _ in 0..neighbours {
                let mut n = vary(s);
                n.seed = SeedSpace::training_seed(stream_seed(seed, stream, 0), k);
                k += 1;
                if n.validate("neighbour").is_ok() {
                    owners.push(i);
                    list.push(n);
                }
            }
        }
        let pairs: Vec<(usize, bool)> = owners.into_iter().zip(failed_of(&list)?).collect();
        Ok(NeighbourFailures::tally(&failed, &pairs))
    };
    let new_seed = tally(NEW_SEED, &mut |s| *s)?;
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, EDITED, 0));
    let edited = tally(EDITED, &mut |s| generators::edit(s, &mut rng, edit))?;
    Ok(Locality {
        policy: policy.hash.clone(),
        scenarios,
        failures: failed.iter().filter(|&&f| f).count() as u64,
        neighbours,
        new_seed,
        edited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_are_tallied_by_the_outcome_of_the_scenario_they_neighbour() {
        let failed = [true, false, false, true];
        let neighbours = [(0, true), (0, false), (1, false), (1, true), (2, false), (3, true), (3, true), (2, false)];
        let t = NeighbourFailures::tally(&failed, &neighbours);
        assert_eq!(t, NeighbourFailures { of_failures: (3, 4), of_successes: (1, 4) });
        assert_eq!(t.rates(), (0.75, 0.25));
        assert_eq!(NeighbourFailures::tally(&failed, &[]).rates(), (0.0, 0.0));
    }
}
