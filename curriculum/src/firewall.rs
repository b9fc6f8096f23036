//! The firewall between evaluation and training: frozen held-out, OOD and canary scenarios must
//! never reach training or the curriculum. Checked by code, twice: every scenario the
//! curriculum may train on must carry a training-space seed, and no such scenario may equal a
//! frozen one with its seed ignored (a copy under a new seed is still a leak).

use std::collections::HashMap;

use regrasp_sim::Scenario;
use regrasp_sim::hash::Fnv64;
use regrasp_sim::suite::SeedSpace;

use crate::error::{CurriculumError, Result};

/// Hash of a scenario's content with its seed left out.
pub fn content_key(s: &Scenario) -> u64 {
    let mut c = *s;
    c.seed = 0;
    let mut h = Fnv64::new();
    h.write(serde_json::to_string(&c).unwrap_or_default().as_bytes());
    h.finish()
}

/// The frozen scenarios, by content.
#[derive(Clone, Debug, Default)]
pub struct Firewall {
    frozen: HashMap<u64, (String, u64)>,
}

impl Firewall {
    /// A firewall around the scenarios of the frozen suites (`(suite name, scenarios)`).
    pub fn new<'a>(suites: impl IntoIterator<Item = (&'a str, &'a [Scenario])>) -> Self {
        let mut frozen = HashMap::new();
        for (name, scenarios) in suites {
            for s in scenarios {
                frozen.insert(content_key(s), (name.to_string(), s.seed));
            }
        }
        Self { frozen }
    }

    /// Number of frozen scenarios guarded.
    pub fn len(&self) -> usize {
        self.frozen.len()
    }

    /// Whether nothing is guarded.
    pub fn is_empty(&self) -> bool {
        self.frozen.is_empty()
    }

    /// Checks scenarios bound for training; `what` names where they come from.
    pub fn check<'a>(&self, what: &str, scenarios: impl IntoIterator<Item = &'a Scenario>) -> Result<()> {
        for s in scenarios {
            match SeedSpace::of(s.seed) {
                Some(SeedSpace::Train) => {}
                space => {
                    let space = space.map_or("no".to_string(), |sp| format!("the {sp:?}"));
                    return Err(CurriculumError::Firewall(format!(
                        "{what}: scenario seed {} lies in {space} seed space, not the training space (frozen-suite \
                         seeds never reach training or the curriculum)",
                        s.seed
                    )));
                }
            }
            if let Some((suite, seed)) = self.frozen.get(&content_key(s)) {
                return Err(CurriculumError::Firewall(format!(
                    "{what}: scenario seed {} is a copy of {suite} scenario seed {seed}",
                    s.seed
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regrasp_sim::ScenarioDistribution;
    use regrasp_sim::suite::EvalSuite;

    #[test]
    fn a_leaked_heldout_scenario_is_caught_with_or_without_its_seed() {
        let heldout = EvalSuite::load("heldout", &regrasp_sim::Task::default()).unwrap().scenarios();
        let fw = Firewall::new([("heldout", heldout.as_slice())]);
        assert_eq!(fw.len(), heldout.len());
        let training: Vec<Scenario> =
            (0..50).map(|i| ScenarioDistribution::default().sample(SeedSpace::training_seed(1, i))).collect();
        fw.check("curriculum", &training).unwrap();

        let leaked = heldout[17];
        let e = fw.check("curriculum", training.iter().chain([&leaked])).unwrap_err().to_string();
        assert!(e.contains("Heldout") && e.contains(&leaked.seed.to_string()), "{e}");

        let mut renamed = leaked;
        renamed.seed = SeedSpace::training_seed(1, 999);
        let e = fw.check("curriculum", [&renamed]).unwrap_err().to_string();
        assert!(e.contains("copy of heldout") && e.contains(&leaked.seed.to_string()), "{e}");
    }
}
