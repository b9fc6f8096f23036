//! The final test (`regrasp report RUN... --test`): a finished run's warm start and final
//! champion evaluated on the frozen final-test suites `test-heldout` and `test-ood`, which the
//! promotion gate, the curriculum and every choice of a default never see. The gate promotes a
//! challenger because it did well on `heldout`, so a final champion's `heldout` score is
//! selected on that suite (in both arms); these suites measure it afresh, on five times as many
//! scenarios (1000 each).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use regrasp_sim::suite::{EvalSuite, SeedSpace};
use regrasp_sim::{ArmModel, Scenario, Task};

use crate::error::{CurriculumError, Result};
use crate::ledger::Ledger;
use crate::run::RunDir;
use crate::vocabulary::Suite;

/// The final-test slots, held-out-like then OOD-like, with the seed space each must lie in:
/// the suites their evaluations are recorded as, whichever suite file the run's config puts
/// there (`[suites] test_heldout`, `test_ood`).
pub const TEST_SUITES: [(Suite, SeedSpace); 2] =
    [(Suite::TestHeldout, SeedSpace::Heldout), (Suite::TestOod, SeedSpace::Ood)];

/// The policies a finished run is tested with: its warm start (the first champion) and its
/// final champion (the same hash when nothing was promoted).
pub fn tested_policies(ledger: &Ledger) -> Result<Option<(String, String)>> {
    let first = ledger.generations()?.first().map(|g| g.champion.clone());
    let Some((champion, _)) = ledger.champion()? else { return Ok(None) };
    Ok(Some((first.unwrap_or_else(|| champion.clone()), champion)))
}

/// Evaluates the warm start and the final champion of the finished run in `dir` on the
/// final-test suites where that is not yet recorded, and records each evaluation in the ledger
/// (episodes under `episodes/`) by the run's one evaluation path; `on_stage` hears what runs.
/// Returns the number of evaluations run now (0 when all were recorded before). A run that
/// has not stopped is refused: its champion may still change.
pub fn run_final_test(dir: &Path, arm: Arc<ArmModel>, on_stage: &mut dyn FnMut(&str)) -> Result<usize> {
    let mut run = RunDir::open(dir)?;
    let cfg = run.config()?;
    run.check_arm(&arm)?;
    if run.stop_reason()?.is_none() {
        return Err(CurriculumError::Run {
            path: dir.into(),
            message: "the run has not stopped (no stop reason recorded), so its champion may still change; the final \
                      test takes a finished run"
                .into(),
        });
    }
    let Some((warm, champion)) = tested_policies(run.ledger())? else {
        return Err(CurriculumError::Corrupt {
            path: run.ledger().path().into(),
            what: "a stopped run without a champion".into(),
        });
    };
    let generation = run.decided_generations()?;
    // The gate suites this run judged on: a final-test scenario must not be one of them.
    let gate_seeds: HashSet<u64> = [&cfg.suites.heldout, &cfg.suites.ood, &cfg.suites.canary]
        .into_iter()
        .map(|name| EvalSuite::load(name, &arm.task).map(|s| s.scenarios()))
        .collect::<std::result::Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .map(|s| s.seed)
        .collect();
    let env_cfg = Arc::new(cfg.train.env.clone());
    let mut ran = 0;
    for ((suite, space), file) in TEST_SUITES.into_iter().zip([&cfg.suites.test_heldout, &cfg.suites.test_ood]) {
        let scenarios = test_scenarios(file, space, &gate_seeds, &arm.task)?;
        let mut hashes = vec![warm.as_str()];
        if champion != warm {
            hashes.push(champion.as_str());
        }
        for hash in hashes {
            if run.ledger().evaluation(hash, suite)?.is_some() {
                continue;
            }
            let policy = run.load_policy(hash, &arm)?;
            let e = run.evaluated(&policy, suite, generation, &arm, &env_cfg, &scenarios, &mut |what| {
                on_stage(&format!("{}: {what}", dir.display()))
            })?;
            ran += usize::from(e.written.is_some());
        }
    }
    Ok(ran)
}

/// The scenarios of the final-test suite `file` (a shipped name or a path, for an arm with
/// `task`), checked to lie in `space` and to share no seed with the suites the gate judged on
/// (`gate_seeds`).
pub fn test_scenarios(file: &str, space: SeedSpace, gate_seeds: &HashSet<u64>, task: &Task) -> Result<Vec<Scenario>> {
    let suite = EvalSuite::load(file, task)?;
    if suite.seed_space != space {
        return Err(CurriculumError::Config {
            source_name: file.into(),
            message: format!(
                "suite `{}` lies in the {:?} seed space; this final-test slot needs {space:?}",
                suite.name, suite.seed_space
            ),
        });
    }
    let scenarios = suite.scenarios();
    if let Some(s) = scenarios.iter().find(|s| gate_seeds.contains(&s.seed)) {
        return Err(CurriculumError::Firewall(format!(
            "final-test suite {file}: scenario seed {} is also in a suite the gate judges on",
            s.seed
        )));
    }
    Ok(scenarios)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(names: &[&str]) -> HashSet<u64> {
        names.iter().flat_map(|n| EvalSuite::load(n, &Task::default()).unwrap().scenarios()).map(|s| s.seed).collect()
    }

    #[test]
    fn the_shipped_final_test_suites_pass_and_a_gate_suite_in_their_slot_is_refused() {
        let gate = seeds(&["heldout", "ood", "canary"]);
        assert_eq!(test_scenarios("test-heldout", SeedSpace::Heldout, &gate, &Task::default()).unwrap().len(), 1000);
        assert_eq!(test_scenarios("test-ood", SeedSpace::Ood, &gate, &Task::default()).unwrap().len(), 1000);
        // The gate's own held-out suite as the final test: every seed is shared.
        let e = test_scenarios("heldout", SeedSpace::Heldout, &gate, &Task::default()).unwrap_err().to_string();
        assert!(e.contains("firewall") && e.contains("final-test suite heldout"), "{e}");
        // A suite from another seed space in the slot.
        let e = test_scenarios("test-ood", SeedSpace::Heldout, &gate, &Task::default()).unwrap_err().to_string();
        assert!(e.contains("test-ood") && e.contains("Heldout"), "{e}");
    }
}
