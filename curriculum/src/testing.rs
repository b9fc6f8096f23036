//! Fixtures for the tests of crates that read a run's ledger (the certificate rule, the
//! hardware path, the CLI): a generation that the gate decided, recorded exactly as the loop
//! records one, without training anything.

use crate::error::Result;
use crate::gate::{Check, Decision};
use crate::generators::CurriculumPlan;
use crate::ledger::{GenerationRow, Ledger};
use crate::vocabulary::GenerationStatus;

/// Records generation `generation` with checkpoint `hash` as both champion and challenger,
/// decided by the gate: promoted when `promote` (the held-out check "gain significant"
/// passed, 0.1 gain, p = 0.01), else rolled back.
pub fn record_gate_decision(ledger: &mut Ledger, generation: u32, hash: &str, promote: bool) -> Result<()> {
    let row = GenerationRow {
        generation,
        champion: hash.into(),
        seed: 1,
        budget: 0,
        lead: None,
        curriculum: CurriculumPlan { base: regrasp_sim::ScenarioDistribution::default(), parts: vec![] },
        status: GenerationStatus::Training,
        challenger: None,
        decision: None,
    };
    ledger.start_generation(&row)?;
    ledger.set_challenger(generation, hash)?;
    let check = Check { name: "heldout".into(), passed: promote, detail: "gain significant".into() };
    let decision = Decision {
        promote,
        checks: vec![check],
        heldout_gain: 0.1,
        p_value: 0.01,
        discordant: (5, 0),
        safety: Default::default(),
    };
    ledger.decide(generation, hash, &decision, None)
}
