//! Sweeps: many `improve` runs and their final tests as numbered work units, independent of
//! the engine that runs them (a shell loop, Ray, a Slurm array, a Kubernetes Indexed Job).
//!
//! A [`SweepSpec`] (TOML: curricula × seeds × config overrides, whether to run the final test,
//! and large evaluations to split) becomes a [`SweepPlan`] (`plan.json` in the sweep directory)
//! of [`Unit`]s in a fixed order: every `improve` run, every run's final test, then every slice
//! of each large evaluation. [`run_unit`] runs one unit
//! and is idempotent: a finished unit does nothing, a run killed half-way resumes from its
//! ledger (`--resume` semantics) and ends as an uninterrupted run would. [`merge`] gathers the
//! runs into the comparison `regrasp report --test` prints, in unit order, so the result never
//! depends on which machine finished first; with a unit not done it names the unit and merges
//! nothing.
//!
//! Paths in the plan are relative to the sweep directory, so a sweep directory on a shared
//! filesystem works wherever it is mounted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use regrasp_policy::eval::{EpisodeRecord, EvalReport, LoadedPolicy, evaluate, read_episodes, write_episodes};
use regrasp_sim::suite::EvalSuite;
use regrasp_sim::{ArmModel, Scenario};
use serde::{Deserialize, Serialize};

use crate::config::{CurriculumMode, ImproveConfig};
use crate::error::{CurriculumError, Result};
use crate::final_test::{TEST_SUITES, run_final_test, tested_policies};
use crate::improve::{ImproveEvent, ImproveOptions, improve};
use crate::report::{Comparison, build, compare, write};
use crate::run::{LEDGER_FILE, RunDir};

/// The plan's file name inside a sweep directory.
pub const PLAN_FILE: &str = "plan.json";

/// What a sweep runs (a TOML file).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The sweep's name (for reports).
    pub name: String,
    /// The arm every run trains (a shipped arm's name; absent = the default arm).
    #[serde(default)]
    pub arm: Option<String>,
    /// Curricula, in the order their runs are numbered.
    pub curricula: Vec<CurriculumMode>,
    /// Seeds, in order; each curriculum runs every seed.
    pub seeds: Vec<u64>,
    /// An improve config file for every run (relative to the spec file); absent = the arm's
    /// defaults.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// Fields laid over that config (the format of `examples/improve.toml`), e.g.
    /// `max_generations = 6`.
    #[serde(default)]
    pub overrides: toml::Table,
    /// Whether each run's warm start and final champion take the final test (`test-heldout`,
    /// `test-ood`) before the comparison.
    #[serde(default = "yes")]
    pub final_test: bool,
    /// Large evaluations, each split into slices that run as separate units.
    #[serde(default)]
    pub evaluations: Vec<EvaluationSpec>,
}

/// One checkpoint on one suite, in `slices` units of contiguous scenarios (`[[evaluations]]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvaluationSpec {
    /// The checkpoint directory (relative to the spec file; stored absolute in the plan).
    pub policy: PathBuf,
    /// A shipped suite name or a suite file (relative to the directory the plan is made in).
    pub suite: String,
    /// Units to split the suite into (≥ 1).
    pub slices: usize,
}

fn yes() -> bool {
    true
}

/// One work unit.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unit {
    /// An `improve` run in `run` (relative to the sweep directory).
    Improve {
        /// Its curriculum.
        curriculum: CurriculumMode,
        /// Its seed.
        seed: u64,
        /// Its run directory.
        run: PathBuf,
    },
    /// The final test of the run in `run`, after the improve unit `after`.
    FinalTest {
        /// The run directory.
        run: PathBuf,
        /// The index of the improve unit it needs.
        after: usize,
    },
    /// Slice `slice` of `slices` of a checkpoint's evaluation on a suite: its contiguous share
    /// of the suite's scenarios, stored as an episode file `out` (relative to the sweep
    /// directory).
    EvalSlice {
        /// The checkpoint directory.
        policy: PathBuf,
        /// The suite (a shipped name or an absolute file).
        suite: String,
        /// This slice (0-based).
        slice: usize,
        /// Slices in all.
        slices: usize,
        /// The episode file it writes.
        out: PathBuf,
    },
}

impl Unit {
    /// The unit's run directory (relative to the sweep directory).
    pub fn run(&self) -> &Path {
        match self {
            Unit::Improve { run, .. } | Unit::FinalTest { run, .. } => run,
            Unit::EvalSlice { out, .. } => out,
        }
    }

    /// One line naming the unit.
    pub fn describe(&self) -> String {
        match self {
            Unit::Improve { curriculum, seed, run } => {
                format!("improve --curriculum {} --seed {seed} ({})", curriculum.name(), run.display())
            }
            Unit::FinalTest { run, after } => format!("final test of {} (after unit {after})", run.display()),
            Unit::EvalSlice { policy, suite, slice, slices, .. } => {
                format!("evaluate {} on {suite}, slice {} of {slices}", policy.display(), slice + 1)
            }
        }
    }
}

/// A planned sweep: the spec, the resolved config every run starts from, and the units.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SweepPlan {
    /// The spec it was planned from.
    pub spec: SweepSpec,
    /// The improve config every run starts from (its curriculum and seed set per unit), as TOML.
    pub config: String,
    /// The units, in order.
    pub units: Vec<Unit>,
}

impl SweepSpec {
    /// Loads and checks a spec file.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CurriculumError::Io { path: path.to_path_buf(), source })?;
        let spec: SweepSpec = toml::from_str(&text)
            .map_err(|e| CurriculumError::Config { source_name: path.display().to_string(), message: e.to_string() })?;
        let bad = |message: String| CurriculumError::Config { source_name: path.display().to_string(), message };
        if spec.curricula.is_empty() != spec.seeds.is_empty() {
            return Err(bad("`curricula` and `seeds` must both list values (or both be empty)".into()));
        }
        if spec.curricula.is_empty() && spec.evaluations.is_empty() {
            return Err(bad("nothing to run: list `curricula` and `seeds`, or `[[evaluations]]`, or both".into()));
        }
        if let Some(e) = spec.evaluations.iter().find(|e| e.slices == 0) {
            return Err(bad(format!(
                "evaluation of {} on {}: `slices` must be at least 1",
                e.policy.display(),
                e.suite
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &spec.curricula {
            if !seen.insert(c.name()) {
                return Err(bad(format!("curriculum `{}` is listed twice", c.name())));
            }
        }
        let mut seeds = spec.seeds.clone();
        seeds.sort_unstable();
        if seeds.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("a seed is listed twice in `seeds`".into()));
        }
        Ok(spec)
    }
}

/// Plans the sweep of `spec` (read from `spec_path`, whose folder its `config` is relative to)
/// for `arm`: the improve runs (curriculum-major, seeds in order), then their final tests.
pub fn plan(spec: SweepSpec, spec_path: &Path, arm: &ArmModel) -> Result<SweepPlan> {
    let base = match &spec.config {
        Some(p) => {
            let p = spec_path.parent().unwrap_or(Path::new(".")).join(p);
            ImproveConfig::from_path_for(&p, &arm.task)?
        }
        None => ImproveConfig::defaults_for(&arm.task),
    };
    let mut config = if spec.overrides.is_empty() {
        base
    } else {
        let over = toml::to_string(&spec.overrides).unwrap_or_default();
        ImproveConfig::parse_over(&over, &format!("{}: overrides", spec_path.display()), &base)?
    };
    // A suite given as a file (not a shipped name) is found from the directory the plan is
    // made in, as `improve --config` would, and stored absolute: a unit finds it from any
    // working directory of a machine that mounts the same paths.
    for s in config.suites.all_mut() {
        let p = Path::new(s.as_str());
        if p.is_relative() && p.is_file() {
            let abs = std::path::absolute(p).map_err(|source| CurriculumError::Io { path: p.into(), source })?;
            *s = abs.display().to_string();
        }
    }
    let mut units = Vec::new();
    for c in &spec.curricula {
        for s in &spec.seeds {
            units.push(Unit::Improve { curriculum: *c, seed: *s, run: format!("improve-{}-s{s}", c.name()).into() });
        }
    }
    if spec.final_test {
        let improves = units.len();
        for after in 0..improves {
            units.push(Unit::FinalTest { run: units[after].run().to_path_buf(), after });
        }
    }
    let spec_dir = spec_path.parent().unwrap_or(Path::new("."));
    for (k, e) in spec.evaluations.iter().enumerate() {
        let policy = std::path::absolute(spec_dir.join(&e.policy))
            .map_err(|source| CurriculumError::Io { path: e.policy.clone(), source })?;
        let suite = match Path::new(&e.suite) {
            p if p.is_relative() && p.is_file() => std::path::absolute(p)
                .map_err(|source| CurriculumError::Io { path: p.into(), source })?
                .display()
                .to_string(),
            _ => e.suite.clone(),
        };
        for slice in 0..e.slices {
            let out = PathBuf::from(format!("evaluation-{k}")).join(format!("slice-{slice}.jsonl"));
            units.push(Unit::EvalSlice { policy: policy.clone(), suite: suite.clone(), slice, slices: e.slices, out });
        }
    }
    Ok(SweepPlan { spec, config: config.to_toml(), units })
}

impl SweepPlan {
    /// Writes `plan.json` into `dir` (created); refuses a directory that holds another plan.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(PLAN_FILE);
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        if let Ok(old) = std::fs::read_to_string(&path) {
            if old == text {
                return Ok(());
            }
            return Err(CurriculumError::Run {
                path: dir.into(),
                message: format!("holds another sweep's {PLAN_FILE}; plan into a new directory"),
            });
        }
        std::fs::create_dir_all(dir).map_err(|source| CurriculumError::Io { path: dir.into(), source })?;
        let aside = dir.join(format!("{PLAN_FILE}.{}.tmp", std::process::id()));
        std::fs::write(&aside, text).map_err(|source| CurriculumError::Io { path: aside.clone(), source })?;
        std::fs::rename(&aside, &path).map_err(|source| CurriculumError::Io { path, source })
    }

    /// Reads `plan.json` from the sweep directory `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(PLAN_FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|source| CurriculumError::Io { path: path.clone(), source })?;
        serde_json::from_str(&text)
            .map_err(|e| CurriculumError::Config { source_name: path.display().to_string(), message: e.to_string() })
    }

    /// The arm the sweep trains.
    pub fn arm(&self) -> Result<ArmModel> {
        ArmModel::from_arg(self.spec.arm.as_deref(), None).map_err(CurriculumError::from)
    }

    /// The unit at `index`, or an error naming the plan's size.
    pub fn unit(&self, index: usize) -> Result<&Unit> {
        self.units.get(index).ok_or_else(|| CurriculumError::Config {
            source_name: PLAN_FILE.into(),
            message: format!("unit {index} does not exist: the plan has units 0..{}", self.units.len()),
        })
    }
}

/// Whether unit `unit` of the sweep in `dir` is done.
pub fn is_done(dir: &Path, unit: &Unit) -> Result<bool> {
    if let Unit::EvalSlice { out, .. } = unit {
        // Written aside and renamed into place: present means complete.
        return Ok(dir.join(out).is_file());
    }
    let run = dir.join(unit.run());
    if !run.join(LEDGER_FILE).exists() {
        return Ok(false);
    }
    let r = RunDir::open(&run)?;
    if r.stop_reason()?.is_none() {
        return Ok(false);
    }
    match unit {
        Unit::Improve { .. } | Unit::EvalSlice { .. } => Ok(true),
        Unit::FinalTest { .. } => {
            let Some((warm, champion)) = tested_policies(r.ledger())? else { return Ok(false) };
            for (suite, _) in TEST_SUITES {
                for hash in [&warm, &champion] {
                    if r.ledger().evaluation(hash, suite)?.is_none() {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        }
    }
}

/// What [`run_unit`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum UnitOutcome {
    /// The unit was already done; nothing ran.
    AlreadyDone,
    /// The unit ran to its end now (a killed improve run resumed).
    Ran,
}

/// Runs unit `index` of the sweep in `dir` for `arm`. Idempotent: a done unit does nothing; an
/// improve run with a ledger resumes from it. A final test whose improve unit is not done is
/// refused, naming that unit. `on_event` hears the improve loop's events; `on_stage` the final
/// test's stages.
pub fn run_unit(
    dir: &Path,
    plan: &SweepPlan,
    index: usize,
    arm: Arc<ArmModel>,
    on_event: &mut dyn FnMut(&ImproveEvent),
    on_stage: &mut dyn FnMut(&str),
) -> Result<UnitOutcome> {
    let unit = plan.unit(index)?;
    // One runner per run directory at a time: an engine that retries a unit while a lost
    // attempt still runs (a worker cut off, not dead) waits here, then finds the unit done.
    let lock_path = dir.join(format!("{}.lock", unit.run().display()));
    if let Some(parent) = lock_path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| CurriculumError::Io { path: parent.into(), source })?;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| CurriculumError::Io { path: lock_path.clone(), source })?;
    lock.lock().map_err(|source| CurriculumError::Io { path: lock_path, source })?;
    if is_done(dir, unit)? {
        return Ok(UnitOutcome::AlreadyDone);
    }
    let run = dir.join(unit.run());
    match unit {
        Unit::Improve { curriculum, seed, .. } => {
            let mut cfg = ImproveConfig::parse(&plan.config, &format!("{}: config", dir.join(PLAN_FILE).display()))?;
            cfg.curriculum = *curriculum;
            cfg.seed = *seed;
            let resume = run.join(LEDGER_FILE).exists();
            let opts = ImproveOptions { resume, max_generations_now: None, max_generations: None };
            improve(cfg, arm, &run, opts, on_event)?;
        }
        Unit::FinalTest { after, .. } => {
            if !is_done(dir, plan.unit(*after)?)? {
                return Err(CurriculumError::Run {
                    path: run,
                    message: format!(
                        "unit {index} (the final test) needs unit {after} ({}) done first",
                        plan.units[*after].describe()
                    ),
                });
            }
            run_final_test(&run, arm, on_stage)?;
        }
        Unit::EvalSlice { policy, suite, slice, slices, .. } => {
            let (name, scenarios) = slice_scenarios(&arm, suite, *slice, *slices)?;
            let cfg = Arc::new(arm.task.env.clone());
            let obs_dim = regrasp_sim::ObsLayout::new(arm.dof()).len();
            let loaded = LoadedPolicy::load(policy, &arm, obs_dim)?;
            on_stage(&format!("evaluating {} on {name}: {} scenarios", loaded.hash, scenarios.len()));
            let (_, records) = evaluate(&loaded, &arm, &cfg, &name, &scenarios, &|| ())?;
            if let Some(parent) = run.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|source| CurriculumError::Io { path: parent.into(), source })?;
            }
            write_episodes(&run, &records)?;
        }
    }
    Ok(UnitOutcome::Ran)
}

/// The suite's name and slice `slice` of `slices` of its scenarios (contiguous, in suite order;
/// the slices together are the suite).
pub fn slice_scenarios(arm: &ArmModel, suite: &str, slice: usize, slices: usize) -> Result<(String, Vec<Scenario>)> {
    let s = EvalSuite::load(suite, &arm.task)?;
    let all = s.scenarios();
    let (a, b) = (slice * all.len() / slices, (slice + 1) * all.len() / slices);
    Ok((s.name, all[a..b].to_vec()))
}

/// What a sweep merges into: the comparison of its improve runs (none without runs) and the
/// report of each large evaluation, its slices joined in order.
#[derive(Clone, Debug, Serialize)]
pub struct Merged {
    /// The runs side by side, as `regrasp report --test RUN...` prints them.
    pub comparison: Option<Comparison>,
    /// Each `[[evaluations]]` entry's report over its whole suite, as `regrasp eval` gives it.
    pub evaluations: Vec<EvalReport>,
}

/// Merges the sweep in unit order. Refuses, naming every unit not done, and merges nothing.
pub fn merge(dir: &Path, plan: &SweepPlan) -> Result<Merged> {
    let mut missing = Vec::new();
    for (i, u) in plan.units.iter().enumerate() {
        if !is_done(dir, u)? {
            missing.push(format!("unit {i}: {}", u.describe()));
        }
    }
    if !missing.is_empty() {
        return Err(CurriculumError::Run {
            path: dir.into(),
            message: format!(
                "{} of {} units are not done, so nothing was merged: {}; run each with `regrasp sweep run-unit {} \
                 --index I`",
                missing.len(),
                plan.units.len(),
                missing.join("; "),
                dir.display()
            ),
        });
    }
    let runs: Vec<&Path> = plan.units.iter().filter(|u| matches!(u, Unit::Improve { .. })).map(Unit::run).collect();
    let comparison = if runs.is_empty() {
        None
    } else {
        let reports = runs.iter().map(|r| build(&dir.join(r))).collect::<Result<Vec<_>>>()?;
        let mut c = compare(&reports);
        // Runs named as in the plan (relative to the sweep directory): the same comparison
        // wherever the directory is mounted.
        for (line, run) in c.runs.iter_mut().zip(runs) {
            line.run = run.to_path_buf();
        }
        Some(c)
    };
    let mut evaluations = Vec::new();
    let mut records: Vec<EpisodeRecord> = Vec::new();
    let mut arm: Option<ArmModel> = None;
    for u in &plan.units {
        if let Unit::EvalSlice { suite, slice, slices, out, .. } = u {
            records.extend(read_episodes(&dir.join(out))?);
            if slice + 1 == *slices {
                let arm = match &arm {
                    Some(a) => a,
                    None => arm.insert(plan.arm()?),
                };
                let name = EvalSuite::load(suite, &arm.task)?.name;
                let hash = records.first().map(|r| r.policy_hash.clone()).unwrap_or_default();
                evaluations.push(EvalReport::tally(&name, &hash, &records, 0.0));
                records.clear();
            }
        }
    }
    Ok(Merged { comparison, evaluations })
}

/// Writes each run's own report (`report.txt`, `report.png`, as `regrasp report RUN` does) now
/// that every run of the sweep exists: a targeted run's plot then draws its uniform ablation.
pub fn write_reports(dir: &Path, plan: &SweepPlan) -> Result<()> {
    for u in plan.units.iter().filter(|u| matches!(u, Unit::Improve { .. })) {
        write(&dir.join(u.run()), None, None)?;
    }
    Ok(())
}
