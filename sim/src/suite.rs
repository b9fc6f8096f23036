//! Seed spaces and evaluation suites. Every scenario is a pure function of its seed and the
//! distribution it is drawn from; keeping the seed ranges of training, held-out, out-of-
//! distribution and canary scenarios disjoint makes "never trained on" checkable by code.
//!
//! A suite part's `distribution` holds overrides of the arm's training distribution (see
//! [`crate::task`]): a bare part is the arm's training distribution. The shipped names
//! (`heldout`, `ood`, …) resolve to the arm's own frozen suites where it has them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SimError};
use crate::scenario::{Scenario, ScenarioDistribution};
use crate::task::{Task, overlay};

/// A disjoint range of scenario seeds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SeedSpace {
    /// Seeds training and the curriculum may draw: `[0, 2⁶²)`.
    Train,
    /// Frozen held-out evaluation: `[2⁶², 2⁶² + 2³²)`.
    Heldout,
    /// Frozen out-of-distribution evaluation: `[2⁶² + 2³², 2⁶² + 2³³)`.
    Ood,
    /// Canary scenarios that detect a policy gaming the probe set: `[2⁶² + 2³³, 2⁶² + 2³⁴)`.
    Canary,
}

impl SeedSpace {
    const BASE: u64 = 1 << 62;

    /// The half-open range `[start, end)` of this space.
    pub fn range(self) -> (u64, u64) {
        match self {
            SeedSpace::Train => (0, Self::BASE),
            SeedSpace::Heldout => (Self::BASE, Self::BASE + (1 << 32)),
            SeedSpace::Ood => (Self::BASE + (1 << 32), Self::BASE + (1 << 33)),
            SeedSpace::Canary => (Self::BASE + (1 << 33), Self::BASE + (1 << 34)),
        }
    }

    /// Whether `seed` lies in this space.
    pub fn contains(self, seed: u64) -> bool {
        let (a, b) = self.range();
        seed >= a && seed < b
    }

    /// The space a seed belongs to, if any.
    pub fn of(seed: u64) -> Option<SeedSpace> {
        [SeedSpace::Train, SeedSpace::Heldout, SeedSpace::Ood, SeedSpace::Canary].into_iter().find(|s| s.contains(seed))
    }

    /// The `index`-th training seed of a run seeded with `run_seed`: a SplitMix64 mix, masked
    /// into the training space, so training can never draw an evaluation seed.
    pub fn training_seed(run_seed: u64, index: u64) -> u64 {
        let mut z = run_seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        z & (Self::BASE - 1)
    }
}

/// One part of a suite: `count` scenarios from `distribution`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SuitePart {
    /// Number of scenarios.
    pub count: u64,
    /// The distribution they are drawn from (in a file: overrides of the arm's training
    /// distribution; resolved here).
    #[serde(default)]
    pub distribution: ScenarioDistribution,
}

/// A suite as written in its file: parts hold distribution overrides.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: String,
    seed_space: SeedSpace,
    #[serde(default)]
    first_seed: u64,
    #[serde(default)]
    part: Vec<PartFile>,
    #[serde(default)]
    scenario: Vec<Scenario>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartFile {
    count: u64,
    #[serde(default)]
    distribution: toml::Table,
}

/// A frozen evaluation suite (TOML): parts drawn with consecutive seeds from the start of its
/// seed space, plus explicit scenarios.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvalSuite {
    /// Name (`train`, `heldout`, `ood`, …).
    pub name: String,
    /// The seed space every scenario of the suite must lie in.
    pub seed_space: SeedSpace,
    /// Offset of the first seed from the start of the seed space.
    #[serde(default)]
    pub first_seed: u64,
    /// Sampled parts.
    #[serde(default, rename = "part")]
    pub parts: Vec<SuitePart>,
    /// Explicit scenarios (their seeds must lie in the seed space too).
    #[serde(default, rename = "scenario")]
    pub scenarios: Vec<Scenario>,
}

/// The suites shipped in `suites/`, embedded so that they are the same everywhere.
pub mod shipped {
    /// `suites/train.toml`: the training distribution, from the training seed space.
    pub const TRAIN: &str = include_str!("../../suites/train.toml");
    /// `suites/heldout.toml`: the training distribution, from the held-out seed space.
    pub const HELDOUT: &str = include_str!("../../suites/heldout.toml");
    /// `suites/ood.toml`: shapes, sizes, masses and frictions outside the training ranges.
    pub const OOD: &str = include_str!("../../suites/ood.toml");
    /// `suites/canary.toml`: the training distribution, from the canary seed space.
    pub const CANARY: &str = include_str!("../../suites/canary.toml");
    /// `suites/test-heldout.toml`: 1000 scenarios of the training distribution from the
    /// held-out seed space, after `heldout`'s; only the final comparison of runs uses it.
    pub const TEST_HELDOUT: &str = include_str!("../../suites/test-heldout.toml");
    /// `suites/test-ood.toml`: 1000 scenarios of `ood`'s four parts from the OOD seed space,
    /// after `ood`'s; only the final comparison of runs uses it.
    pub const TEST_OOD: &str = include_str!("../../suites/test-ood.toml");

    /// The SO-101's frozen suites (`suites/so101/`), same names and seed spaces.
    pub mod so101 {
        /// `suites/so101/train.toml`.
        pub const TRAIN: &str = include_str!("../../suites/so101/train.toml");
        /// `suites/so101/heldout.toml`.
        pub const HELDOUT: &str = include_str!("../../suites/so101/heldout.toml");
        /// `suites/so101/ood.toml`.
        pub const OOD: &str = include_str!("../../suites/so101/ood.toml");
        /// `suites/so101/canary.toml`.
        pub const CANARY: &str = include_str!("../../suites/so101/canary.toml");
        /// `suites/so101/test-heldout.toml`.
        pub const TEST_HELDOUT: &str = include_str!("../../suites/so101/test-heldout.toml");
        /// `suites/so101/test-ood.toml`.
        pub const TEST_OOD: &str = include_str!("../../suites/so101/test-ood.toml");
    }

    /// The shipped suites' names, in the order of [`ROOT`] and [`ARM_FOLDERS`]' texts.
    pub const NAMES: [&str; 6] = ["train", "heldout", "ood", "canary", "test-heldout", "test-ood"];

    /// The suites of `suites/` itself, in [`NAMES`]' order.
    pub const ROOT: [&str; 6] = [TRAIN, HELDOUT, OOD, CANARY, TEST_HELDOUT, TEST_OOD];

    /// The folders of arms' own suites (an arm profile's `task.suites`), each with its suites
    /// in [`NAMES`]' order.
    pub const ARM_FOLDERS: [(&str, [&str; 6]); 1] =
        [("so101", [so101::TRAIN, so101::HELDOUT, so101::OOD, so101::CANARY, so101::TEST_HELDOUT, so101::TEST_OOD])];

    /// The suites of the arm folder `folder`, if it is one.
    pub fn for_arm(folder: &str) -> Option<&'static [&'static str; 6]> {
        ARM_FOLDERS.iter().find(|(f, _)| *f == folder).map(|(_, texts)| texts)
    }

    /// The text and file name of shipped suite `name` for an arm whose suites lie in `folder`
    /// (`None`: `suites/` itself).
    pub fn text(folder: Option<&str>, name: &str) -> Option<(&'static str, String)> {
        let i = NAMES.iter().position(|n| *n == name)?;
        match folder {
            None => Some((ROOT[i], format!("suites/{name}.toml"))),
            Some(f) => for_arm(f).map(|t| (t[i], format!("suites/{f}/{name}.toml"))),
        }
    }
}

impl EvalSuite {
    /// Parses and validates a suite whose parts' distributions override `base` (the arm's
    /// training distribution).
    pub fn parse(text: &str, source_name: &str, base: &ScenarioDistribution) -> Result<Self> {
        let f: SuiteFile = toml::from_str(text)
            .map_err(|e| SimError::Parse { source_name: source_name.into(), message: e.to_string() })?;
        let parts = f
            .part
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let distribution = overlay(base, &p.distribution, &format!("{source_name}: part[{i}].distribution"))?;
                Ok(SuitePart { count: p.count, distribution })
            })
            .collect::<Result<Vec<_>>>()?;
        let s = EvalSuite {
            name: f.name,
            seed_space: f.seed_space,
            first_seed: f.first_seed,
            parts,
            scenarios: f.scenario,
        };
        s.validate(source_name)?;
        Ok(s)
    }

    /// A shipped suite by name (`train`, `heldout`, `ood`, `canary`, `test-heldout`,
    /// `test-ood`; the arm's own where its task has them), or a suite file by path, for an arm
    /// with `task`.
    pub fn load(name_or_path: &str, task: &Task) -> Result<Self> {
        match shipped::text(task.suites.as_deref(), name_or_path) {
            Some((text, file)) => Self::parse(text, &file, &task.distribution),
            None => {
                let p = Path::new(name_or_path);
                let text =
                    std::fs::read_to_string(p).map_err(|source| SimError::Io { path: p.to_path_buf(), source })?;
                Self::parse(&text, name_or_path, &task.distribution)
            }
        }
    }

    /// Checks sizes, distributions and that every seed lies in the suite's seed space.
    pub fn validate(&self, src: &str) -> Result<()> {
        let total: u64 = self.parts.iter().map(|p| p.count).sum::<u64>() + self.scenarios.len() as u64;
        if total == 0 || total > 1_000_000 {
            return Err(SimError::out_of_range(src, "part[].count", total, "[1, 1000000] scenarios in all"));
        }
        for (i, p) in self.parts.iter().enumerate() {
            p.distribution.validate(&format!("{src}: part[{i}].distribution"))?;
        }
        let (start, end) = self.seed_space.range();
        let sampled = self.parts.iter().map(|p| p.count).sum::<u64>();
        if self.first_seed.checked_add(sampled).is_none_or(|last| start.saturating_add(last) > end) {
            return Err(SimError::invalid(src, "first_seed", "the sampled seeds run past the end of the seed space"));
        }
        for (i, s) in self.scenarios.iter().enumerate() {
            s.validate(&format!("{src}: scenario[{i}]"))?;
            if !self.seed_space.contains(s.seed) {
                return Err(SimError::invalid(
                    src,
                    format!("scenario[{i}].seed"),
                    format!("{} is outside the {:?} seed space {:?}", s.seed, self.seed_space, self.seed_space.range()),
                ));
            }
        }
        Ok(())
    }

    /// Every scenario of the suite, in a fixed order.
    pub fn scenarios(&self) -> Vec<Scenario> {
        let mut seed = self.seed_space.range().0 + self.first_seed;
        let mut out = Vec::new();
        for p in &self.parts {
            for _ in 0..p.count {
                out.push(p.distribution.sample(seed));
                seed += 1;
            }
        }
        out.extend(self.scenarios.iter().copied());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_spaces_are_disjoint_and_training_seeds_stay_in_theirs() {
        let spaces = [SeedSpace::Train, SeedSpace::Heldout, SeedSpace::Ood, SeedSpace::Canary];
        for (i, a) in spaces.iter().enumerate() {
            for b in &spaces[i + 1..] {
                let (a0, a1) = a.range();
                let (b0, b1) = b.range();
                assert!(a1 <= b0 || b1 <= a0, "{a:?} overlaps {b:?}");
            }
        }
        for run in [0u64, 1, 42, u64::MAX] {
            for i in 0..10_000 {
                let s = SeedSpace::training_seed(run, i);
                assert_eq!(SeedSpace::of(s), Some(SeedSpace::Train));
            }
        }
    }

    fn tasks() -> Vec<(String, Task)> {
        crate::arm::NamedArm::ALL.iter().map(|a| (a.name().to_string(), a.load().unwrap().task)).collect()
    }

    #[test]
    fn every_arm_is_judged_on_its_own_training_distribution() {
        for (arm, task) in tasks() {
            for name in ["train", "heldout", "canary", "test-heldout"] {
                let s = EvalSuite::load(name, &task).unwrap();
                assert!(s.parts.iter().all(|p| p.distribution == task.distribution), "{arm}: {name}");
            }
        }
        let (arm5, so101) = (&tasks()[0].1, &tasks()[1].1);
        assert_ne!(arm5.distribution, so101.distribution, "the SO-101 has a task of its own");
        assert_ne!(EvalSuite::load("heldout", arm5).unwrap(), EvalSuite::load("heldout", so101).unwrap());
    }

    #[test]
    fn shipped_suites_are_valid_and_in_their_spaces() {
        for (arm, task) in tasks() {
            for (name, space) in [
                ("train", SeedSpace::Train),
                ("heldout", SeedSpace::Heldout),
                ("ood", SeedSpace::Ood),
                ("canary", SeedSpace::Canary),
                ("test-heldout", SeedSpace::Heldout),
                ("test-ood", SeedSpace::Ood),
            ] {
                let s = EvalSuite::load(name, &task).unwrap();
                assert_eq!(s.seed_space, space);
                let scenarios = s.scenarios();
                assert!(scenarios.len() >= 100, "{arm}: {name}");
                for sc in &scenarios {
                    assert!(space.contains(sc.seed));
                    sc.validate(name).unwrap();
                }
            }
        }
    }

    #[test]
    fn the_final_test_suites_share_no_seed_with_the_gate_suites_and_mirror_their_distributions() {
        for (arm, task) in tasks() {
            for (gate, test) in [("heldout", "test-heldout"), ("ood", "test-ood")] {
                let (g, t) = (EvalSuite::load(gate, &task).unwrap(), EvalSuite::load(test, &task).unwrap());
                assert_eq!(g.seed_space, t.seed_space);
                let gate_seeds: std::collections::HashSet<u64> = g.scenarios().iter().map(|s| s.seed).collect();
                let test_scenarios = t.scenarios();
                assert_eq!(test_scenarios.len(), 1000, "{arm}: {test}");
                assert!(
                    test_scenarios.iter().all(|s| !gate_seeds.contains(&s.seed)),
                    "{test} shares a seed with {gate}"
                );
                // The same distributions part by part, only more scenarios of each.
                assert_eq!(g.parts.len(), t.parts.len(), "{test}");
                for (a, b) in g.parts.iter().zip(&t.parts) {
                    assert_eq!(a.distribution, b.distribution, "{test}");
                    assert_eq!(b.count, 5 * a.count, "{test}");
                }
            }
        }
    }

    #[test]
    fn a_scenario_outside_the_suite_space_is_rejected() {
        let suite = EvalSuite {
            name: "x".into(),
            seed_space: SeedSpace::Heldout,
            first_seed: 0,
            parts: vec![],
            scenarios: vec![ScenarioDistribution::default().sample(5)],
        };
        let text = toml::to_string(&suite).unwrap();
        let e = EvalSuite::parse(&text, "x.toml", &ScenarioDistribution::default()).unwrap_err().to_string();
        assert!(e.contains("scenario[0].seed") && e.contains("Heldout"), "{e}");
    }
}
