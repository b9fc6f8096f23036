//! `ImproveConfig`: everything the self-improvement loop reads (TOML, serde defaults, validated
//! with named fields). The ledger stores it, so `--resume` continues with the same settings.

use std::path::Path;

use regrasp_policy::config::TrainConfig;
use regrasp_sim::Task;
use serde::{Deserialize, Serialize};

use crate::error::{CurriculumError, Result};

/// Which curriculum trains the challengers.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum CurriculumMode {
    /// Failure-targeted: replay, boundary, mutate and uniform, mixed by a bandit.
    #[default]
    Targeted,
    /// Domain randomisation over the training ranges only: the ablation baseline.
    Uniform,
}

impl CurriculumMode {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            CurriculumMode::Targeted => "targeted",
            CurriculumMode::Uniform => "uniform",
        }
    }
}

/// The frozen suites: those the gate judges on, and the final-test suites that only
/// `regrasp report --test` reads. Shipped names (`heldout`, `ood`, `canary`, `test-heldout`,
/// `test-ood`) or paths.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SuitesConfig {
    /// Held-out suite (must lie in the held-out seed space).
    pub heldout: String,
    /// Out-of-distribution suite (OOD seed space).
    pub ood: String,
    /// Canary suite (canary seed space): look-alikes of the probe set that never train.
    pub canary: String,
    /// Final-test held-out suite (held-out seed space, no seed shared with `heldout`): the
    /// finished run's warm start and final champion are measured on it afresh, since the gate
    /// selected the champion on `heldout`. Never read by the loop.
    pub test_heldout: String,
    /// Final-test OOD suite (OOD seed space, no seed shared with `ood`). Never read by the loop.
    pub test_ood: String,
}

impl SuitesConfig {
    /// Every slot's suite (a shipped name or a file), to rewrite in place: held-out, OOD,
    /// canary, test-heldout, test-OOD.
    pub fn all_mut(&mut self) -> [&mut String; 5] {
        [&mut self.heldout, &mut self.ood, &mut self.canary, &mut self.test_heldout, &mut self.test_ood]
    }
}

impl Default for SuitesConfig {
    fn default() -> Self {
        Self {
            heldout: "heldout".into(),
            ood: "ood".into(),
            canary: "canary".into(),
            test_heldout: "test-heldout".into(),
            test_ood: "test-ood".into(),
        }
    }
}

/// Promotion gate thresholds. Rates are fractions of episodes (0–1).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// Significance level of the one-sided exact McNemar test on paired held-out outcomes.
    pub alpha: f64,
    /// Largest allowed drop of OOD success (fraction).
    pub ood_margin: f64,
    /// Largest allowed drop of canary success (fraction).
    pub canary_margin: f64,
    /// Largest allowed excess of the probe-set gain over the canary gain (fraction): an excess
    /// bigger than this by more than sampling noise (one-sided z-test at `alpha` on the paired
    /// gains) means the challenger learnt the probe set, not the task.
    pub gaming_margin: f64,
    /// Largest allowed relative rise of the mean peak contact force on outcome-matched
    /// scenarios (fraction of the champion's, plus 0.5 N).
    pub peak_force_margin: f64,
    /// Largest allowed rise of the share of episodes that hit a joint limit (fraction).
    pub joint_limit_margin: f64,
    /// Largest allowed rise of the share of episodes with a table collision (fraction).
    pub table_collision_margin: f64,
    /// Largest allowed relative rise of the mean action jerk on outcome-matched scenarios
    /// (fraction of the champion's).
    pub jerk_margin: f64,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            alpha: 0.05,
            ood_margin: 0.03,
            canary_margin: 0.05,
            gaming_margin: 0.10,
            peak_force_margin: 0.10,
            joint_limit_margin: 0.02,
            table_collision_margin: 0.01,
            jerk_margin: 0.15,
        }
    }
}

/// Curriculum generators and the bandit over them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorsConfig {
    /// Share of the curriculum always drawn from the training distribution (the `uniform`
    /// generator), as Prioritized Level Replay samples a new level from the base generator with
    /// probability 1 − p (p = 0.5): the targeted part is the rest.
    pub uniform_share: f64,
    /// Share of the targeted part given to the generator the bandit picked as lead (the rest of
    /// it is split by the bandit's probabilities).
    pub lead_share: f64,
    /// EXP3 exploration rate γ.
    pub bandit_gamma: f64,
    /// Held-out gain (fraction) that maps to the full bandit reward: reward =
    /// clamp(0.5 + gain / (2 · this), 0, 1).
    pub bandit_full_gain: f64,
    /// Prioritised replay: scenarios kept.
    pub replay_size: usize,
    /// Prioritised replay: rank temperature β (smaller = greedier): P_score ∝ rank^(−1/β).
    pub replay_temperature: f64,
    /// Prioritised replay: weight ρ of the staleness term.
    pub replay_staleness: f64,
    /// Boundary: width of the edge band, as a fraction of the current range. Not used yet: the
    /// boundary probes sit exactly on the ends of the ranges.
    pub boundary_edge: f64,
    /// Boundary: scenarios evaluated per parameter edge each generation.
    pub boundary_probes_per_edge: usize,
    /// Boundary: step by which an edge moves, as a fraction of the training range's width.
    pub boundary_step: f64,
    /// Boundary: widen an edge whose success is at least this.
    pub boundary_widen_above: f64,
    /// Boundary: move an edge back in (never inside the base range) whose success is below this.
    pub boundary_narrow_below: f64,
    /// Mutate: variants per failed scenario.
    pub mutate_per_failure: usize,
    /// Mutate: failed scenarios used (most recent first).
    pub mutate_failures: usize,
    /// Mutate: largest shift of the object position (m).
    pub mutate_position: f64,
    /// Mutate: largest relative change of size, mass and friction (fraction).
    pub mutate_scale: f64,
}

impl Default for GeneratorsConfig {
    fn default() -> Self {
        Self {
            uniform_share: 0.5,
            lead_share: 0.5,
            bandit_gamma: 0.2,
            bandit_full_gain: 0.05,
            replay_size: 64,
            replay_temperature: 1.0 / 0.7,
            replay_staleness: 0.3,
            boundary_edge: 0.2,
            boundary_probes_per_edge: 6,
            boundary_step: 0.1,
            boundary_widen_above: 0.85,
            boundary_narrow_below: 0.6,
            mutate_per_failure: 4,
            mutate_failures: 64,
            mutate_position: 0.015,
            mutate_scale: 0.15,
        }
    }
}

/// The whole loop.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ImproveConfig {
    /// Seed of every random choice of the run.
    pub seed: u64,
    /// Curriculum of the challengers.
    pub curriculum: CurriculumMode,
    /// Stop after this many generations (the env-step budget is this × `generation_env_steps`).
    pub max_generations: u32,
    /// PPO env steps each challenger trains for.
    pub generation_env_steps: u64,
    /// Stop once the champion's held-out success reaches this (fraction).
    pub target_heldout: f64,
    /// Stop after this many generations in a row without a promotion.
    pub patience: u32,
    /// Probe-set size: training-space scenarios the champion is evaluated on to find failures.
    pub probe_size: u64,
    /// Frozen suites.
    pub suites: SuitesConfig,
    /// Gate.
    pub gate: GateConfig,
    /// Generators and bandit.
    pub generators: GeneratorsConfig,
    /// Training: the warm start of generation 0 (behaviour cloning + DAgger) and the PPO
    /// settings challengers fine-tune with (`total_env_steps` and `seed` are set per generation).
    pub train: TrainConfig,
}

impl Default for ImproveConfig {
    fn default() -> Self {
        let mut train = TrainConfig { rollout_steps: 256, checkpoint_every: 20, ..TrainConfig::default() };
        train.ppo.learning_rate = 3e-5;
        train.ppo.final_learning_rate = 1e-5;
        train.ppo.clip = 0.1;
        // The default arm's (regrasp-arm5's) exploration noise; `defaults_for` takes an arm's own.
        train.bc.finetune_log_std = Task::default().exploration.finetune_log_std;
        Self {
            seed: 0,
            curriculum: CurriculumMode::Targeted,
            max_generations: 6,
            generation_env_steps: 300_000,
            target_heldout: 0.97,
            patience: 3,
            probe_size: 200,
            suites: SuitesConfig::default(),
            gate: GateConfig::default(),
            generators: GeneratorsConfig::default(),
            train,
        }
    }
}

impl ImproveConfig {
    /// Loads and validates a TOML file; absent fields take their defaults.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CurriculumError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates TOML text. Absent fields, however deep, take the defaults of
    /// [`ImproveConfig::default`] (so a partial `[train]` table keeps the fine-tuning settings).
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        Self::parse_over(text, source_name, &Self::default())
    }

    /// The defaults for an arm with `task`: its env config, training distribution and fine-tuning
    /// exploration noise (`[task.exploration]`).
    pub fn defaults_for(task: &Task) -> Self {
        let mut c = Self::default();
        c.train.env = task.env.clone();
        c.train.distribution = task.distribution.clone();
        c.train.bc.finetune_log_std = task.exploration.finetune_log_std;
        c
    }

    /// Loads and validates a TOML file for an arm with `task`; absent fields take
    /// [`Self::defaults_for`] that task.
    pub fn from_path_for(path: &Path, task: &Task) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CurriculumError::Io { path: path.to_path_buf(), source })?;
        Self::parse_over(&text, &path.display().to_string(), &Self::defaults_for(task))
    }

    /// Parses TOML text over `base` (its fields over `base`'s, table by table) and validates.
    pub fn parse_over(text: &str, source_name: &str, base: &Self) -> Result<Self> {
        let c: ImproveConfig = regrasp_sim::task::overlay_text(base, text, source_name).map_err(|e| {
            let message = match e {
                regrasp_sim::SimError::Parse { message, .. } => message,
                other => other.to_string(),
            };
            CurriculumError::Config { source_name: source_name.into(), message }
        })?;
        c.validate(source_name)?;
        Ok(c)
    }

    /// The config as TOML (what the ledger stores).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks every field; the error names it and its allowed range.
    pub fn validate(&self, src: &str) -> Result<()> {
        let bad = |field: &str, allowed: &str, value: String| {
            Err(CurriculumError::Config {
                source_name: src.into(),
                message: format!("field `{field}` = {value} is out of range; allowed {allowed}"),
            })
        };
        let frac = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if !(1..=1000).contains(&self.max_generations) {
            return bad("max_generations", "[1, 1000]", self.max_generations.to_string());
        }
        if self.generation_env_steps == 0 {
            return bad("generation_env_steps", "[1, ∞)", "0".into());
        }
        if !(1..=100_000).contains(&self.probe_size) {
            return bad("probe_size", "[1, 100000]", self.probe_size.to_string());
        }
        if self.patience == 0 {
            return bad("patience", "[1, ∞)", "0".into());
        }
        let g = &self.gate;
        let n = &self.generators;
        for (f, v) in [
            ("target_heldout", self.target_heldout),
            ("gate.ood_margin", g.ood_margin),
            ("gate.canary_margin", g.canary_margin),
            ("gate.gaming_margin", g.gaming_margin),
            ("gate.peak_force_margin", g.peak_force_margin),
            ("gate.joint_limit_margin", g.joint_limit_margin),
            ("gate.table_collision_margin", g.table_collision_margin),
            ("gate.jerk_margin", g.jerk_margin),
            ("generators.uniform_share", n.uniform_share),
            ("generators.lead_share", n.lead_share),
            ("generators.bandit_gamma", n.bandit_gamma),
            ("generators.replay_staleness", n.replay_staleness),
            ("generators.boundary_edge", n.boundary_edge),
            ("generators.boundary_step", n.boundary_step),
            ("generators.boundary_widen_above", n.boundary_widen_above),
            ("generators.boundary_narrow_below", n.boundary_narrow_below),
            ("generators.mutate_scale", n.mutate_scale),
        ] {
            if !frac(v) {
                return bad(f, "[0, 1]", v.to_string());
            }
        }
        if !(g.alpha.is_finite() && g.alpha > 0.0 && g.alpha < 0.5) {
            return bad("gate.alpha", "(0, 0.5)", g.alpha.to_string());
        }
        if !(n.bandit_gamma > 0.0) {
            return bad("generators.bandit_gamma", "(0, 1]", n.bandit_gamma.to_string());
        }
        if !(n.bandit_full_gain.is_finite() && n.bandit_full_gain > 0.0 && n.bandit_full_gain <= 1.0) {
            return bad("generators.bandit_full_gain", "(0, 1]", n.bandit_full_gain.to_string());
        }
        if !(n.replay_temperature.is_finite() && n.replay_temperature > 0.0 && n.replay_temperature <= 10.0) {
            return bad("generators.replay_temperature", "(0, 10]", n.replay_temperature.to_string());
        }
        if !(n.mutate_position.is_finite() && (0.0..=0.1).contains(&n.mutate_position)) {
            return bad("generators.mutate_position", "[0, 0.1] m", n.mutate_position.to_string());
        }
        if n.replay_size == 0 || n.replay_size > 100_000 {
            return bad("generators.replay_size", "[1, 100000]", n.replay_size.to_string());
        }
        if n.boundary_probes_per_edge > 1000 || n.mutate_per_failure > 1000 || n.mutate_failures > 100_000 {
            return bad("generators.*_per_* / mutate_failures", "≤ 1000 (≤ 100000 failures)", "too many".into());
        }
        self.train
            .validate(&format!("{src}: [train]"))
            .map_err(|e| CurriculumError::Config { source_name: src.into(), message: e.to_string() })?;
        Ok(())
    }
}

/// Overlays `user` on `base`, table by table.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_table_keeps_the_loop_defaults() {
        let c = ImproveConfig::parse("[train]\nenvs = 2\n[train.ppo]\nepochs = 3\n", "p.toml").unwrap();
        let d = ImproveConfig::default();
        assert_eq!(c.train.envs, 2);
        assert_eq!(c.train.ppo.epochs, 3);
        assert_eq!(c.train.ppo.learning_rate, d.train.ppo.learning_rate);
        assert_eq!(c.train.rollout_steps, d.train.rollout_steps);
        assert_eq!(c.train.bc.finetune_log_std, d.train.bc.finetune_log_std);
    }

    #[test]
    fn defaults_validate_and_round_trip_through_toml() {
        let c = ImproveConfig::default();
        c.validate("default").unwrap();
        assert_eq!(ImproveConfig::parse(&c.to_toml(), "rt").unwrap(), c);
    }

    #[test]
    fn each_arm_fine_tunes_with_its_profiles_exploration_noise_unless_the_config_sets_one() {
        let so101 = regrasp_sim::ArmModel::named("so101").unwrap().task;
        let own = so101.exploration.finetune_log_std;
        assert_ne!(own, Task::default().exploration.finetune_log_std, "the SO-101 has its own noise");
        assert_eq!(ImproveConfig::defaults_for(&so101).train.bc.finetune_log_std, own);
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/improve.toml"));
        assert_eq!(ImproveConfig::from_path_for(path, &so101).unwrap().train.bc.finetune_log_std, own);
        let set = ImproveConfig::parse_over(
            "[train.bc]\nfinetune_log_std = -1.0\n",
            "s",
            &ImproveConfig::defaults_for(&so101),
        );
        assert_eq!(set.unwrap().train.bc.finetune_log_std.values(), [-1.0; 5]);
    }

    #[test]
    fn shipped_example_documents_the_defaults() {
        let text = include_str!("../../examples/improve.toml");
        assert_eq!(ImproveConfig::parse(text, "examples/improve.toml").unwrap(), ImproveConfig::default());
    }

    #[test]
    fn a_bad_field_is_named() {
        let e = ImproveConfig::parse("[gate]\nalpha = 0.7\n", "x.toml").unwrap_err().to_string();
        assert!(e.contains("gate.alpha") && e.contains("x.toml"), "{e}");
        let e = ImproveConfig::parse("max_generatons = 3\n", "y.toml").unwrap_err().to_string();
        assert!(e.contains("max_generatons"), "{e}");
    }
}
