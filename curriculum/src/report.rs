//! The report of a run (`regrasp report RUN`): the generation table (curriculum, gate numbers,
//! decision and reasons), what each challenger did to its champion's probe failures and
//! successes, per-mode held-out failure counts of the champion after each generation, the stop reason, and a PNG plot of held-out and OOD success against training env
//! steps, with the uniform-curriculum ablation of the same seed and budget beside it when its
//! run sits next to this one; and, once `report --test` has run it, the final test (the warm
//! start and the final champion on suites nothing in the loop sees, [`crate::final_test`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde::Serialize;

use crate::archive::FailureArchive;
use crate::config::CurriculumMode;
use crate::error::{CurriculumError, Result};
use crate::final_test::{TEST_SUITES, tested_policies};
use crate::gate::{Judged, PairedGain};
use crate::generators::GeneratorKind;
use crate::ledger::EvaluationRow;
use crate::run::{LEDGER_FILE, RunDir};
use crate::vocabulary::{GenerationStatus, Suite};
use regrasp_sim::OutcomeKind;

/// A policy's frozen-suite results.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SuiteResult {
    /// Success rate.
    pub success_rate: f64,
    /// 95 % Wilson interval.
    pub ci95: [f64; 2],
    /// Episodes.
    pub episodes: u64,
}

impl From<&EvaluationRow> for SuiteResult {
    fn from(r: &EvaluationRow) -> Self {
        Self { success_rate: r.success_rate(), ci95: r.ci95, episodes: r.episodes }
    }
}

/// What a challenger did to its champion's probe episodes (training space: the scenarios the
/// targeted curriculum aims at), paired scenario by scenario.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ProbeChange {
    /// Probe scenarios the champion failed.
    pub failures: u64,
    /// Of those, the ones the challenger succeeded on.
    pub fixed: u64,
    /// Probe scenarios the champion succeeded on.
    pub successes: u64,
    /// Of those, the ones the challenger failed.
    pub broken: u64,
    /// Champion failures whose very scenario the challenger's curriculum replayed.
    pub replayed_failures: u64,
    /// Of those, the ones the challenger succeeded on.
    pub replayed_fixed: u64,
}

impl ProbeChange {
    /// Pairs two evaluations of the same probe set by scenario seed (`true` = success);
    /// `replayed` are the seeds of the scenarios the challenger's curriculum replayed. `None`
    /// when the evaluations are not of the same scenarios.
    pub fn of(champion: &[(u64, bool)], challenger: &[(u64, bool)], replayed: &BTreeSet<u64>) -> Option<Self> {
        let other: BTreeMap<u64, bool> = challenger.iter().copied().collect();
        if champion.is_empty() || other.len() != champion.len() {
            return None;
        }
        let mut c = Self::default();
        for (seed, ok) in champion {
            let now = *other.get(seed)?;
            match ok {
                false => {
                    c.failures += 1;
                    c.fixed += now as u64;
                    if replayed.contains(seed) {
                        c.replayed_failures += 1;
                        c.replayed_fixed += now as u64;
                    }
                }
                true => {
                    c.successes += 1;
                    c.broken += !now as u64;
                }
            }
        }
        Some(c)
    }

    /// The sum of several.
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a ProbeChange>) -> Self {
        all.into_iter().fold(Self::default(), |a, c| Self {
            failures: a.failures + c.failures,
            fixed: a.fixed + c.fixed,
            successes: a.successes + c.successes,
            broken: a.broken + c.broken,
            replayed_failures: a.replayed_failures + c.replayed_failures,
            replayed_fixed: a.replayed_fixed + c.replayed_fixed,
        })
    }

    /// "fixed a/b (x %) of the champion's failures, broke c/d (y %) of its successes", with 95 %
    /// Wilson intervals.
    pub fn describe(&self) -> String {
        let rate = |k: u64, n: u64| {
            let (lo, hi) = regrasp_policy::stats::wilson95(k, n);
            format!("{k}/{n} ({:.0} % [{:.0}–{:.0}])", 100.0 * k as f64 / n.max(1) as f64, 100.0 * lo, 100.0 * hi)
        };
        let mut s = format!(
            "fixed {} of the champion's failures, broke {} of its successes",
            rate(self.fixed, self.failures),
            rate(self.broken, self.successes)
        );
        if self.replayed_failures > 0 {
            let rest = (self.fixed - self.replayed_fixed, self.failures - self.replayed_failures);
            s.push_str(&format!(
                "; of the failures it replayed, fixed {}",
                rate(self.replayed_fixed, self.replayed_failures)
            ));
            if rest.1 > 0 {
                s.push_str(&format!("; of the others, {}", rate(rest.0, rest.1)));
            }
        }
        s
    }
}

/// One generation in the report.
#[derive(Clone, Debug, Serialize)]
pub struct GenerationLine {
    /// Generation.
    pub generation: u32,
    /// Lead generator.
    pub lead: Option<String>,
    /// Curriculum shares by generator.
    pub composition: BTreeMap<String, f64>,
    /// Challenger hash.
    pub challenger: Option<String>,
    /// Training, promoted or rolled back.
    pub status: GenerationStatus,
    /// Champion and challenger held-out results.
    pub heldout: Option<(SuiteResult, SuiteResult)>,
    /// Champion and challenger OOD results.
    pub ood: Option<(SuiteResult, SuiteResult)>,
    /// McNemar p-value.
    pub p_value: Option<f64>,
    /// Reasons of the decision.
    pub reasons: Option<String>,
    /// Training env steps spent by the end of this generation (warm start included).
    pub env_steps: u64,
    /// What the challenger did to the champion's probe failures and successes.
    pub probe_change: Option<ProbeChange>,
    /// The challenger's training rollouts by the generator each episode's scenario came from:
    /// (episodes ended, successes) under the stochastic training policy. Empty for runs made
    /// before training episodes were recorded (ledger schema < 3).
    pub training: BTreeMap<String, (u64, u64)>,
    /// The champion after this generation: held-out failures per mode.
    pub champion_failures: BTreeMap<String, u64>,
    /// The champion after this generation: the regions of scenario space where it failed most
    /// on the probe set, as (region, failures, episodes), worst first (at most 3).
    pub champion_weak_regions: Vec<(String, u64, u64)>,
}

/// A finished run's final test: its warm start and final champion on the final-test suites
/// (`test-heldout`, `test-ood`), which the gate, the curriculum and every choice never see.
#[derive(Clone, Debug, Serialize)]
pub struct FinalTestResult {
    /// The warm start's test-heldout and test-ood results.
    pub warm_start: (SuiteResult, SuiteResult),
    /// The final champion's.
    pub final_result: (SuiteResult, SuiteResult),
    /// The final champion against the warm start, paired scenario by scenario (test-heldout,
    /// test-ood): what the whole loop gained, measured where it never looked.
    pub improvement: (PairedGain, PairedGain),
    /// The final champion's episodes (for paired comparisons between runs).
    #[serde(skip)]
    pub final_episodes: (Vec<Judged>, Vec<Judged>),
}

/// A whole run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// Run directory.
    pub run: PathBuf,
    /// Content hash of the arm the run was made for.
    pub arm_hash: String,
    /// Curriculum mode.
    pub curriculum: String,
    /// Run seed.
    pub seed: u64,
    /// Env steps per generation.
    pub generation_env_steps: u64,
    /// Env steps of the warm start.
    pub warm_start_env_steps: u64,
    /// The first champion's held-out and OOD results.
    pub initial: Option<(SuiteResult, SuiteResult)>,
    /// Generations.
    pub generations: Vec<GenerationLine>,
    /// Final champion hash.
    pub champion: Option<String>,
    /// Its held-out and OOD results.
    pub final_result: Option<(SuiteResult, SuiteResult)>,
    /// Its held-out and OOD episodes (for paired comparisons between runs).
    #[serde(skip)]
    pub final_episodes: Option<(Vec<Judged>, Vec<Judged>)>,
    /// Why it stopped, if it did.
    pub stop_reason: Option<String>,
    /// The final test, once `report --test` has run it.
    pub test: Option<FinalTestResult>,
    /// The uniform ablation, when found.
    pub baseline: Option<Box<RunReport>>,
}

impl RunReport {
    /// (env steps, held-out, OOD) of the champion after the warm start and each decided
    /// generation.
    pub fn champion_curve(&self) -> Vec<(u64, f64, f64)> {
        let mut out = Vec::new();
        let Some((h, o)) = &self.initial else { return out };
        let (mut h, mut o) = (h.success_rate, o.success_rate);
        out.push((self.warm_start_env_steps, h, o));
        for g in &self.generations {
            if !g.status.is_decided() {
                break;
            }
            if let (true, Some((_, hx)), Some((_, ox))) = (g.status == GenerationStatus::Promoted, &g.heldout, &g.ood) {
                h = hx.success_rate;
                o = ox.success_rate;
            }
            out.push((g.env_steps, h, o));
        }
        out
    }
}

fn failures(row: &EvaluationRow) -> BTreeMap<String, u64> {
    row.outcomes.iter().filter(|(k, v)| k.as_str() != "success" && **v > 0).map(|(k, v)| (k.clone(), *v)).collect()
}

/// Reads the report of the run in `dir`.
pub fn build(dir: &Path) -> Result<RunReport> {
    let run = RunDir::open(dir)?;
    let cfg = run.config()?;
    let ledger = run.ledger();
    let warm = run.warm_start_env_steps()?;
    let gens = ledger.generations()?;
    let archive = ledger.archive()?;
    let weak_regions = |policy: &str| -> Vec<(String, u64, u64)> {
        let probe = archive.entries.iter().filter(|e| e.policy == policy && e.suite == Suite::Probe);
        let mut v: Vec<(String, u64, u64)> = FailureArchive::by_region(probe, &cfg.train.distribution)
            .into_iter()
            .filter(|(_, g)| g.failures > 0)
            .map(|(r, g)| (r.label(), g.failures, g.episodes))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)).then(a.0.cmp(&b.0)));
        v.truncate(3);
        v
    };
    let pair = |policy: &str| -> Result<Option<(SuiteResult, SuiteResult, EvaluationRow)>> {
        Ok(match (ledger.evaluation(policy, Suite::Heldout)?, ledger.evaluation(policy, Suite::Ood)?) {
            (Some(h), Some(o)) => Some(((&h).into(), (&o).into(), h)),
            _ => None,
        })
    };
    let probe = |policy: &str| -> Result<Option<Vec<(u64, bool)>>> {
        Ok(match ledger.evaluation(policy, Suite::Probe)? {
            Some(row) => {
                Some(ledger.judged(row.id)?.into_iter().map(|j| (j.seed, j.outcome == OutcomeKind::Success)).collect())
            }
            None => None,
        })
    };
    let first_champion = gens.first().map(|g| g.champion.clone()).or(ledger.champion()?.map(|c| c.0));
    let initial_full = match &first_champion {
        Some(h) => pair(h)?,
        None => None,
    };
    let mut lines = Vec::new();
    let mut champion_row = initial_full.as_ref().map(|t| t.2.clone());
    let mut champion_hash = first_champion.clone().unwrap_or_default();
    for (i, g) in gens.iter().enumerate() {
        let champ = pair(&g.champion)?;
        let chall = match &g.challenger {
            Some(c) => pair(c)?,
            None => None,
        };
        let replayed: BTreeSet<u64> = g.curriculum.scenarios_of(GeneratorKind::Replay).map(|s| s.seed).collect();
        let probe_change = match &g.challenger {
            Some(c) => match (probe(&g.champion)?, probe(c)?) {
                (Some(a), Some(b)) => ProbeChange::of(&a, &b, &replayed),
                _ => None,
            },
            None => None,
        };
        let mut training: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (_, e) in ledger.training_episodes(g.generation)? {
            let t = training.entry(g.curriculum.generator_of(e.seed).name().to_string()).or_default();
            t.0 += 1;
            t.1 += e.success as u64;
        }
        if g.status == GenerationStatus::Promoted {
            champion_row = chall.as_ref().map(|t| t.2.clone());
            champion_hash = g.challenger.clone().unwrap_or_default();
        }
        lines.push(GenerationLine {
            generation: g.generation,
            lead: g.lead.clone(),
            composition: g.curriculum.composition().into_iter().map(|(k, v)| (k.name().to_string(), v)).collect(),
            challenger: g.challenger.clone(),
            status: g.status,
            heldout: match (&champ, &chall) {
                (Some(a), Some(b)) => Some((a.0.clone(), b.0.clone())),
                _ => None,
            },
            ood: match (&champ, &chall) {
                (Some(a), Some(b)) => Some((a.1.clone(), b.1.clone())),
                _ => None,
            },
            p_value: g.decision.as_ref().map(|d| d.p_value),
            reasons: g.decision.as_ref().map(|d| d.reasons()),
            env_steps: warm + (i as u64 + 1) * g.budget,
            probe_change,
            training,
            champion_failures: champion_row.as_ref().map(failures).unwrap_or_default(),
            champion_weak_regions: weak_regions(&champion_hash),
        });
    }
    let champion = ledger.champion()?.map(|c| c.0);
    let final_result = match &champion {
        Some(h) => pair(h)?.map(|t| (t.0, t.1)),
        None => None,
    };
    let final_episodes = match &champion {
        Some(h) => match (ledger.evaluation(h, Suite::Heldout)?, ledger.evaluation(h, Suite::Ood)?) {
            (Some(hr), Some(or)) => Some((ledger.judged(hr.id)?, ledger.judged(or.id)?)),
            _ => None,
        },
        None => None,
    };
    let test = match tested_policies(ledger)? {
        Some((warm, champion)) => {
            let get = |hash: &str, suite: Suite| -> Result<Option<(SuiteResult, Vec<Judged>)>> {
                Ok(match ledger.evaluation(hash, suite)? {
                    Some(row) => Some(((&row).into(), ledger.judged(row.id)?)),
                    None => None,
                })
            };
            let [(th, _), (to, _)] = TEST_SUITES;
            match (get(&warm, th)?, get(&warm, to)?, get(&champion, th)?, get(&champion, to)?) {
                (Some(wh), Some(wo), Some(fh), Some(fo)) => Some(FinalTestResult {
                    improvement: (PairedGain::of(&wh.1, &fh.1), PairedGain::of(&wo.1, &fo.1)),
                    warm_start: (wh.0, wo.0),
                    final_result: (fh.0, fo.0),
                    final_episodes: (fh.1, fo.1),
                }),
                _ => None,
            }
        }
        None => None,
    };
    Ok(RunReport {
        run: dir.into(),
        arm_hash: run.made_for()?,
        curriculum: cfg.curriculum.name().into(),
        seed: cfg.seed,
        generation_env_steps: cfg.generation_env_steps,
        warm_start_env_steps: warm,
        initial: initial_full.map(|t| (t.0, t.1)),
        generations: lines,
        champion,
        final_result,
        final_episodes,
        stop_reason: run.stop_reason()?,
        test,
        baseline: None,
    })
}

/// The uniform ablation of a targeted run: a sibling directory whose ledger is a uniform run
/// for the same arm with the same seed and generation budget.
pub fn find_baseline(report: &RunReport) -> Option<PathBuf> {
    if report.curriculum != CurriculumMode::Targeted.name() {
        return None;
    }
    let parent = report.run.parent()?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(parent)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p != &report.run && p.join(LEDGER_FILE).exists())
        .filter(|p| {
            build(p).is_ok_and(|r| {
                r.curriculum == CurriculumMode::Uniform.name()
                    && r.arm_hash == report.arm_hash
                    && r.seed == report.seed
                    && r.generation_env_steps == report.generation_env_steps
            })
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Builds the report of the run in `run` with its uniform ablation (`baseline`, or a sibling
/// [`find_baseline`] finds), writes `report.txt` and the plot (to `png`, default
/// `RUN/report.png`); returns the text and the report.
pub fn write(run: &Path, baseline: Option<&Path>, png: Option<&Path>) -> Result<(String, RunReport)> {
    let mut rep = build(run)?;
    if let Some(b) = baseline.map(Path::to_path_buf).or_else(|| find_baseline(&rep)) {
        let base =
            build(&b).map_err(|e| CurriculumError::Run { path: b.clone(), message: format!("baseline: {e}") })?;
        rep.baseline = Some(Box::new(base));
    }
    let text = render(&rep);
    let txt = run.join("report.txt");
    std::fs::write(&txt, &text).map_err(|source| CurriculumError::Io { path: txt, source })?;
    let png = png.map(Path::to_path_buf).unwrap_or_else(|| run.join("report.png"));
    plot(&rep, &png)?;
    Ok((text, rep))
}

fn pct(r: &SuiteResult) -> String {
    format!("{:5.1}% [{:4.1}–{:4.1}]", 100.0 * r.success_rate, 100.0 * r.ci95[0], 100.0 * r.ci95[1])
}

/// The report as text: the generation table, failures per mode, the stop reason.
pub fn render(r: &RunReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "run {} — curriculum {}, seed {}, {} env steps per generation\n",
        r.run.display(),
        r.curriculum,
        r.seed,
        r.generation_env_steps
    ));
    if let Some((h, o)) = &r.initial {
        s.push_str(&format!(
            "warm start ({} env steps): held-out {}  OOD {}\n",
            r.warm_start_env_steps,
            pct(h),
            pct(o)
        ));
    }
    s.push_str("\n gen  lead      curriculum (u/r/b/m %)   held-out champion → challenger            p        OOD champion → challenger              decision\n");
    for g in &r.generations {
        let c = |k: &str| 100.0 * g.composition.get(k).copied().unwrap_or(0.0);
        let comp = format!("{:3.0}/{:3.0}/{:3.0}/{:3.0}", c("uniform"), c("replay"), c("boundary"), c("mutate"));
        let (h, o) = match (&g.heldout, &g.ood) {
            (Some((a, b)), Some((x, y))) => (format!("{} → {}", pct(a), pct(b)), format!("{} → {}", pct(x), pct(y))),
            _ => ("-".into(), "-".into()),
        };
        s.push_str(&format!(
            "{:4}  {:8}  {:22}  {:40}  {:7}  {:36}  {}\n",
            g.generation,
            g.lead.as_deref().unwrap_or("-"),
            comp,
            h,
            g.p_value.map(|p| format!("{p:.4}")).unwrap_or("-".into()),
            o,
            g.status
        ));
        if let Some(reasons) = &g.reasons
            && g.status == GenerationStatus::RolledBack
        {
            s.push_str(&format!("      why: {reasons}\n"));
        }
    }
    s.push_str("\nwhat each challenger did to its champion's probe episodes (training space, paired):\n");
    for g in &r.generations {
        if let Some(p) = &g.probe_change {
            s.push_str(&format!("{:4}  {}\n", g.generation, p.describe()));
        }
    }
    if r.generations.iter().any(|g| !g.training.is_empty()) {
        s.push_str("\nthe challenger's training episodes by the generator of their scenario (success under the stochastic training policy):\n");
        for g in &r.generations {
            let parts: Vec<String> = g
                .training
                .iter()
                .map(|(k, &(n, w))| format!("{k} {w}/{n} ({:.0} %)", 100.0 * w as f64 / n.max(1) as f64))
                .collect();
            if !parts.is_empty() {
                s.push_str(&format!("{:4}  {}\n", g.generation, parts.join(", ")));
            }
        }
    }
    s.push_str("\nchampion's held-out failures per mode after each generation:\n");
    for g in &r.generations {
        let f: Vec<String> = g.champion_failures.iter().map(|(k, v)| format!("{k} {v}")).collect();
        s.push_str(&format!("{:4}  {}\n", g.generation, if f.is_empty() { "none".into() } else { f.join(", ") }));
    }
    s.push_str("\nchampion's weakest regions of the probe set after each generation (failures/episodes):\n");
    for g in &r.generations {
        let f: Vec<String> = g.champion_weak_regions.iter().map(|(k, f, n)| format!("{k} {f}/{n}")).collect();
        s.push_str(&format!("{:4}  {}\n", g.generation, if f.is_empty() { "none".into() } else { f.join("; ") }));
    }
    if let (Some(c), Some((h, o))) = (&r.champion, &r.final_result) {
        s.push_str(&format!("\nfinal champion {c}: held-out {}  OOD {}\n", pct(h), pct(o)));
    }
    s.push_str(&format!(
        "stopped: {}\n",
        r.stop_reason.as_deref().unwrap_or("not yet (resume with `regrasp improve --resume`)")
    ));
    if let Some(b) = &r.baseline
        && let Some((h, o)) = &b.final_result
    {
        s.push_str(&format!(
            "uniform ablation {} (same seed and budget): held-out {}  OOD {}\n",
            b.run.display(),
            pct(h),
            pct(o)
        ));
    }
    match &r.test {
        Some(t) => {
            s.push_str("\nfinal test (test-heldout / test-ood: scenarios the gate, the curriculum and every choice never saw):\n");
            s.push_str(&format!(
                "  warm start      test-heldout {}  test-ood {}\n",
                pct(&t.warm_start.0),
                pct(&t.warm_start.1)
            ));
            s.push_str(&format!(
                "  final champion  test-heldout {}  test-ood {}\n",
                pct(&t.final_result.0),
                pct(&t.final_result.1)
            ));
            s.push_str(&format!(
                "  final − warm start, paired: test-heldout {}, test-ood {}\n",
                gain_text(&t.improvement.0),
                gain_text(&t.improvement.1)
            ));
        }
        None if r.stop_reason.is_some() => s.push_str("final test: not run (`regrasp report RUN --test` runs it)\n"),
        None => {}
    }
    s
}

/// A paired gain in words: points, 95 % interval, discordant counts and one-sided p.
fn gain_text(g: &PairedGain) -> String {
    format!(
        "{:+.1} points [{:+.1}, {:+.1}] (discordant {}:{}, p = {:.4})",
        100.0 * g.gain,
        100.0 * g.ci95.0,
        100.0 * g.ci95.1,
        g.discordant.0,
        g.discordant.1,
        g.p_value
    )
}

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Writes the PNG plot: champion held-out and OOD success against training env steps (filled
/// markers), every challenger (hollow markers), and the ablation's champion dashed, when present.
pub fn plot(r: &RunReport, path: &Path) -> Result<()> {
    let err = |e: String| CurriculumError::Plot { path: path.into(), message: e };
    static FONT_ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*FONT_ONCE.get_or_init(|| plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()) {
        return Err(err("the bundled font could not be loaded".into()));
    }
    let curve = r.champion_curve();
    let base = r.baseline.as_ref().map(|b| b.champion_curve()).unwrap_or_default();
    let x_max = curve.iter().chain(&base).map(|p| p.0).max().unwrap_or(1).max(1) as f64 / 1e6;
    let root = BitMapBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("regrasp improve: champion success ({} curriculum, seed {})", r.curriculum, r.seed),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max * 1.05, 0.0..1.0)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("training env steps (millions)")
        .y_desc("success rate")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let series = |pts: &[(u64, f64, f64)], ood: bool| -> Vec<(f64, f64)> {
        pts.iter().map(|p| (p.0 as f64 / 1e6, if ood { p.2 } else { p.1 })).collect()
    };
    for (ood, color, label) in [(false, BLUE, "held-out"), (true, RED, "OOD")] {
        // Every challenger, promoted or rolled back, as a hollow marker.
        let challengers: Vec<(f64, f64)> = r
            .generations
            .iter()
            .filter_map(|g| {
                let (_, x) = if ood { g.ood.as_ref()? } else { g.heldout.as_ref()? };
                Some((g.env_steps as f64 / 1e6, x.success_rate))
            })
            .collect();
        chart
            .draw_series(challengers.iter().map(|p| Circle::new(*p, 6, color.stroke_width(1))))
            .map_err(|e| err(e.to_string()))?;
        let pts = series(&curve, ood);
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(format!("{label} ({})", r.curriculum))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled()))).map_err(|e| err(e.to_string()))?;
        if !base.is_empty() {
            let pts = series(&base, ood);
            chart
                .draw_series(DashedLineSeries::new(pts.clone(), 8, 6, color.mix(0.6).stroke_width(2)))
                .map_err(|e| err(e.to_string()))?
                .label(format!("{label} (uniform ablation)"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.mix(0.6).stroke_width(2)));
            chart
                .draw_series(pts.iter().map(|p| TriangleMarker::new(*p, 5, color.mix(0.6).filled())))
                .map_err(|e| err(e.to_string()))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

/// One run's line in a comparison.
#[derive(Clone, Debug, Serialize)]
pub struct ComparedRun {
    /// Run directory.
    pub run: PathBuf,
    /// Curriculum mode.
    pub curriculum: String,
    /// Seed.
    pub seed: u64,
    /// Training env steps spent (warm start included).
    pub env_steps: u64,
    /// Generations decided and promotions.
    pub generations: (usize, usize),
    /// Final champion's held-out and OOD results.
    pub final_result: Option<(SuiteResult, SuiteResult)>,
    /// Stop reason.
    pub stop_reason: Option<String>,
    /// What its challengers did to their champions' probe episodes, summed over generations.
    pub probe_change: ProbeChange,
}

/// Several runs side by side: each run, the mean per curriculum, and per seed the targeted
/// minus uniform difference where both ran, paired on the same frozen scenarios.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Every run.
    pub runs: Vec<ComparedRun>,
    /// Curriculum → (runs, mean held-out, mean OOD) of the final champions.
    pub means: BTreeMap<String, (usize, f64, f64)>,
    /// Seed → held-out and OOD gain of the targeted final champion over the uniform one.
    pub paired: BTreeMap<u64, (PairedGain, PairedGain)>,
    /// Those gains pooled over the seeds (summed counts).
    pub pooled: Option<(PairedGain, PairedGain)>,
    /// The same on the final-test suites (test-heldout, test-ood), for seeds whose two runs
    /// both have a final test: the benchmark's deciding figure, since the gate selected every
    /// champion on `heldout`.
    pub test_paired: BTreeMap<u64, (PairedGain, PairedGain)>,
    /// Those pooled over the seeds.
    pub test_pooled: Option<(PairedGain, PairedGain)>,
    /// Curriculum → (runs, final champion against warm start on test-heldout and on test-ood,
    /// pooled over its runs with a final test): what the loop itself gained.
    pub test_improvement: BTreeMap<String, (usize, PairedGain, PairedGain)>,
    /// Curriculum → what its challengers did to their champions' probe episodes, summed over
    /// runs and generations: whether aiming at failures fixed more of them.
    pub probe_change: BTreeMap<String, ProbeChange>,
}

/// Compares finished or unfinished runs.
pub fn compare(reports: &[RunReport]) -> Comparison {
    let runs: Vec<ComparedRun> = reports
        .iter()
        .map(|r| ComparedRun {
            run: r.run.clone(),
            curriculum: r.curriculum.clone(),
            seed: r.seed,
            env_steps: r.champion_curve().last().map(|p| p.0).unwrap_or(r.warm_start_env_steps),
            generations: (
                r.generations.iter().filter(|g| g.status.is_decided()).count(),
                r.generations.iter().filter(|g| g.status == GenerationStatus::Promoted).count(),
            ),
            final_result: r.final_result.clone(),
            stop_reason: r.stop_reason.clone(),
            probe_change: ProbeChange::sum(r.generations.iter().filter_map(|g| g.probe_change.as_ref())),
        })
        .collect();
    let mut sums: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for c in &runs {
        if let Some((h, o)) = &c.final_result {
            let e = sums.entry(c.curriculum.clone()).or_default();
            e.0 += 1;
            e.1 += h.success_rate;
            e.2 += o.success_rate;
        }
    }
    let means = sums.into_iter().map(|(k, (n, h, o))| (k, (n, h / n as f64, o / n as f64))).collect();
    let (paired, pooled) = targeted_against_uniform(reports, |r| r.final_episodes.as_ref());
    let (test_paired, test_pooled) = targeted_against_uniform(reports, |r| r.test.as_ref().map(|t| &t.final_episodes));
    let mut improvements: BTreeMap<String, (Vec<PairedGain>, Vec<PairedGain>)> = BTreeMap::new();
    for r in reports {
        if let Some(t) = &r.test {
            let e = improvements.entry(r.curriculum.clone()).or_default();
            e.0.push(t.improvement.0);
            e.1.push(t.improvement.1);
        }
    }
    let test_improvement = improvements
        .into_iter()
        .map(|(k, (h, o))| (k, (h.len(), PairedGain::pooled(&h), PairedGain::pooled(&o))))
        .collect();
    let mut probe_change: BTreeMap<String, ProbeChange> = BTreeMap::new();
    for r in &runs {
        let e = probe_change.entry(r.curriculum.clone()).or_default();
        *e = ProbeChange::sum([&*e, &r.probe_change]);
    }
    Comparison { runs, means, paired, pooled, test_paired, test_pooled, test_improvement, probe_change }
}

/// Per seed, the targeted run's episodes against the uniform run's (held-out-like, OOD-like,
/// as `episodes` picks them), paired by scenario; and those pooled over the seeds.
#[allow(clippy::type_complexity)] // a pair of per-seed and pooled tables; a type alias would name it once only
fn targeted_against_uniform<'a>(
    reports: &'a [RunReport],
    episodes: impl Fn(&'a RunReport) -> Option<&'a (Vec<Judged>, Vec<Judged>)>,
) -> (BTreeMap<u64, (PairedGain, PairedGain)>, Option<(PairedGain, PairedGain)>) {
    let of = |mode: CurriculumMode| -> BTreeMap<u64, &(Vec<Judged>, Vec<Judged>)> {
        reports.iter().filter(|r| r.curriculum == mode.name()).filter_map(|r| Some((r.seed, episodes(r)?))).collect()
    };
    let uniform = of(CurriculumMode::Uniform);
    let mut paired = BTreeMap::new();
    for (seed, (th, to)) in of(CurriculumMode::Targeted) {
        if let Some((uh, uo)) = uniform.get(&seed) {
            paired.insert(seed, (PairedGain::of(uh, th), PairedGain::of(uo, to)));
        }
    }
    let pooled = (!paired.is_empty()).then(|| {
        let (h, o): (Vec<PairedGain>, Vec<PairedGain>) = paired.values().copied().unzip();
        (PairedGain::pooled(&h), PairedGain::pooled(&o))
    });
    (paired, pooled)
}

/// A comparison as text.
pub fn render_comparison(c: &Comparison) -> String {
    let mut s = String::from(
        "run                                   curriculum  seed  env steps  gens/promoted  held-out final            OOD final                 stop\n",
    );
    for r in &c.runs {
        let (h, o) = match &r.final_result {
            Some((h, o)) => (pct(h), pct(o)),
            None => ("-".into(), "-".into()),
        };
        let stop = r.stop_reason.as_deref().map(|x| x.split(':').next().unwrap_or(x)).unwrap_or("running");
        s.push_str(&format!(
            "{:37} {:10} {:5} {:10} {:>6}/{:<7} {:25} {:25} {}\n",
            r.run.display().to_string(),
            r.curriculum,
            r.seed,
            r.env_steps,
            r.generations.0,
            r.generations.1,
            h,
            o,
            stop
        ));
    }
    s.push('\n');
    for (mode, (n, h, o)) in &c.means {
        s.push_str(&format!("mean of {n} {mode} runs: held-out {:.1}%, OOD {:.1}%\n", 100.0 * h, 100.0 * o));
    }
    if !c.probe_change.is_empty() {
        s.push_str("challengers against their champions on the probe set (training space, paired; all generations):\n");
        for (mode, p) in &c.probe_change {
            s.push_str(&format!("  {mode}: {}\n", p.describe()));
        }
    }
    let gain = gain_text;
    if let Some((ph, po)) = &c.pooled {
        s.push_str("targeted − uniform, final champions paired on the same frozen scenarios (95 % interval; one-sided McNemar p):
");
        for (seed, (h, o)) in &c.paired {
            s.push_str(&format!(
                "  seed {seed}: held-out {}, OOD {}
",
                gain(h),
                gain(o)
            ));
        }
        s.push_str(&format!(
            "  pooled over {} seeds: held-out {}, OOD {}
",
            c.paired.len(),
            gain(ph),
            gain(po)
        ));
        let wins_h = c.paired.values().filter(|d| d.0.gain > 0.0).count();
        let wins_o = c.paired.values().filter(|d| d.1.gain > 0.0).count();
        s.push_str(&format!(
            "targeted beats uniform on held-out in {wins_h} of {n} seeds, on OOD in {wins_o} of {n}\n",
            n = c.paired.len()
        ));
    }
    if !c.test_improvement.is_empty() {
        s.push_str("\nfinal test (test-heldout / test-ood, 1000 scenarios each that the gate, the curriculum and every choice never saw)\n");
        s.push_str("final champion − warm start, paired, pooled over each curriculum's runs:\n");
        for (mode, (n, h, o)) in &c.test_improvement {
            s.push_str(&format!("  {mode} ({n} runs): test-heldout {}, test-ood {}\n", gain(h), gain(o)));
        }
    }
    if let Some((ph, po)) = &c.test_pooled {
        s.push_str("targeted − uniform, final champions paired (95 % interval; one-sided McNemar p):\n");
        for (seed, (h, o)) in &c.test_paired {
            s.push_str(&format!("  seed {seed}: test-heldout {}, test-ood {}\n", gain(h), gain(o)));
        }
        s.push_str(&format!(
            "  pooled over {} seeds: test-heldout {}, test-ood {}\n",
            c.test_paired.len(),
            gain(ph),
            gain(po)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use regrasp_policy::eval::EpisodeMetrics;
    use regrasp_sim::OutcomeKind;

    /// `n` episodes with seeds from `first`, the first `solved` of them successes.
    fn episodes(first: u64, solved: u64, n: u64) -> (SuiteResult, Vec<Judged>) {
        let eps = (0..n)
            .map(|i| Judged {
                seed: first + i,
                outcome: if i < solved { OutcomeKind::Success } else { OutcomeKind::Timeout },
                metrics: EpisodeMetrics::default(),
            })
            .collect();
        (SuiteResult { success_rate: solved as f64 / n as f64, ci95: [0.0, 1.0], episodes: n }, eps)
    }

    /// A finished run whose final champion solved the first `heldout` of 200 held-out and the
    /// first `ood` of 200 OOD scenarios.
    fn run(curriculum: CurriculumMode, seed: u64, heldout: u64, ood: u64) -> RunReport {
        let eps = |first: u64, solved: u64| episodes(first, solved, 200).1;
        let result = |solved: u64| episodes(0, solved, 200).0;
        RunReport {
            run: PathBuf::from(format!("runs/{}-s{seed}", curriculum.name())),
            arm_hash: String::new(),
            curriculum: curriculum.name().into(),
            seed,
            generation_env_steps: 1000,
            warm_start_env_steps: 0,
            initial: None,
            generations: Vec::new(),
            champion: Some("c".into()),
            final_result: Some((result(heldout), result(ood))),
            final_episodes: Some((eps(0, heldout), eps(1000, ood))),
            stop_reason: Some("budget".into()),
            test: None,
            baseline: None,
        }
    }

    #[test]
    fn runs_are_compared_per_seed_on_paired_scenarios_and_pooled() {
        use CurriculumMode::{Targeted, Uniform};
        let c = compare(&[
            run(Targeted, 0, 180, 140),
            run(Uniform, 0, 170, 150),
            run(Targeted, 1, 160, 120),
            run(Uniform, 1, 160, 110),
            run(Targeted, 2, 150, 100), // no uniform run of seed 2: not paired
        ]);
        assert_eq!(c.paired.keys().copied().collect::<Vec<_>>(), [0, 1]);
        let (h0, o0) = c.paired[&0];
        assert_eq!((h0.discordant, o0.discordant), ((10, 0), (0, 10)));
        assert!((h0.gain - 0.05).abs() < 1e-12 && (o0.gain + 0.05).abs() < 1e-12);
        let (ph, po) = c.pooled.unwrap();
        assert_eq!((ph.pairs, ph.discordant, po.discordant), (400, (10, 0), (10, 10)));
        assert!(ph.ci95.0 > 0.0 && po.ci95.0 < 0.0 && po.ci95.1 > 0.0);
        assert_eq!(c.means["targeted"].0, 3);
        let text = render_comparison(&c);
        assert!(text.contains("pooled over 2 seeds: held-out +2.5 points"), "{text}");
        assert!(text.contains("targeted beats uniform on held-out in 1 of 2 seeds, on OOD in 1 of 2"), "{text}");
    }

    /// The final test of a run: the final champion solved the first `heldout` and `ood` of 1000
    /// scenarios of each final-test suite, its warm start the first `warm` of each.
    fn with_test(mut r: RunReport, warm: u64, heldout: u64, ood: u64) -> RunReport {
        let eps = |first: u64, solved: u64| episodes(first, solved, 1000).1;
        let result = |solved: u64| episodes(0, solved, 1000).0;
        let (fh, fo, wh, wo) = (eps(5000, heldout), eps(9000, ood), eps(5000, warm), eps(9000, warm));
        r.test = Some(FinalTestResult {
            warm_start: (result(warm), result(warm)),
            final_result: (result(heldout), result(ood)),
            improvement: (PairedGain::of(&wh, &fh), PairedGain::of(&wo, &fo)),
            final_episodes: (fh, fo),
        });
        r
    }

    #[test]
    fn the_final_test_is_compared_on_its_own_suites_and_not_the_gates() {
        use CurriculumMode::{Targeted, Uniform};
        let c = compare(&[
            // Seed 0: on the gate suites targeted is behind, on the final test ahead.
            with_test(run(Targeted, 0, 150, 100), 700, 800, 600),
            with_test(run(Uniform, 0, 170, 120), 700, 760, 610),
            with_test(run(Targeted, 1, 160, 120), 650, 700, 500),
            run(Uniform, 1, 160, 110), // not tested: seed 1 is not paired on the final test
        ]);
        assert_eq!(c.paired.len(), 2);
        assert_eq!(c.test_paired.keys().copied().collect::<Vec<_>>(), [0]);
        let (h, o) = c.test_paired[&0];
        assert_eq!((h.pairs, h.discordant, o.discordant), (1000, (40, 0), (0, 10)));
        assert!(c.paired[&0].0.gain < 0.0 && h.gain > 0.0);
        assert_eq!(c.test_pooled.unwrap().0, h);
        // Each curriculum's improvement over its warm starts, pooled over its tested runs.
        let (n, th, to) = c.test_improvement["targeted"];
        assert_eq!((n, th.pairs, th.discordant, to.discordant), (2, 2000, (150, 0), (0, 250)));
        assert_eq!(c.test_improvement["uniform"].0, 1);
        let text = render_comparison(&c);
        assert!(text.contains("seed 0: test-heldout +4.0 points"), "{text}");
        assert!(text.contains("targeted (2 runs): test-heldout +7.5 points"), "{text}");
        // One run's own report shows its before and after.
        let one = render(&with_test(run(Targeted, 0, 150, 100), 700, 800, 600));
        assert!(one.contains("final − warm start, paired: test-heldout +10.0 points"), "{one}");
        assert!(render(&run(Targeted, 0, 150, 100)).contains("final test: not run"));
    }

    #[test]
    fn probe_change_pairs_episodes_by_seed_and_counts_what_was_fixed_and_broken() {
        // Champion: seeds 10..20 failed, 20..60 succeeded. Challenger (listed in another order):
        // fixes 10..16, breaks 20..23.
        let champion: Vec<(u64, bool)> = (10..60).map(|s| (s, s >= 20)).collect();
        let challenger: Vec<(u64, bool)> = (10..60).rev().map(|s| (s, (10..16).contains(&s) || s >= 23)).collect();
        let replayed: BTreeSet<u64> = [12, 13, 17, 30].into();
        let p = ProbeChange::of(&champion, &challenger, &replayed).unwrap();
        assert_eq!(
            p,
            ProbeChange { failures: 10, fixed: 6, successes: 40, broken: 3, replayed_failures: 3, replayed_fixed: 2 }
        );
        assert!(p.describe().starts_with("fixed 6/10 (60 % ["), "{}", p.describe());
        assert!(
            p.describe().contains("of the failures it replayed, fixed 2/3 (67 % [")
                && p.describe().contains("of the others, 4/7"),
            "{}",
            p.describe()
        );
        // Not the same scenarios: no pairing.
        let other: Vec<(u64, bool)> = (11..61).map(|s| (s, true)).collect();
        assert_eq!(ProbeChange::of(&champion, &other, &replayed), None);
        assert_eq!(ProbeChange::of(&champion, &challenger[1..], &replayed), None);
        // A comparison sums them per curriculum over runs and generations.
        let line = |p: ProbeChange| GenerationLine {
            generation: 1,
            lead: None,
            composition: BTreeMap::new(),
            challenger: None,
            status: GenerationStatus::RolledBack,
            heldout: None,
            ood: None,
            p_value: None,
            reasons: None,
            env_steps: 0,
            probe_change: Some(p),
            training: BTreeMap::new(),
            champion_failures: BTreeMap::new(),
            champion_weak_regions: Vec::new(),
        };
        let mut a = run(CurriculumMode::Targeted, 0, 180, 140);
        a.generations = vec![line(p), line(p)];
        let mut b = run(CurriculumMode::Targeted, 1, 180, 140);
        b.generations =
            vec![line(ProbeChange { failures: 5, fixed: 1, successes: 45, broken: 0, ..ProbeChange::default() })];
        let c = compare(&[a, b, run(CurriculumMode::Uniform, 0, 170, 150)]);
        assert_eq!(
            c.probe_change["targeted"],
            ProbeChange { failures: 25, fixed: 13, successes: 125, broken: 6, replayed_failures: 6, replayed_fixed: 4 }
        );
        assert_eq!(c.probe_change["uniform"], ProbeChange::default());
        assert!(render_comparison(&c).contains("targeted: fixed 13/25 (52 % ["), "{}", render_comparison(&c));
    }

    #[test]
    fn a_uniform_run_for_another_arm_is_not_the_baseline() {
        // Regression: the baseline was found by seed and budget alone, so an SO-101 run next to
        // an arm5 uniform run reported it as its ablation.
        let root = std::env::temp_dir().join(format!("regrasp-baseline-arms-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let arm5 = regrasp_sim::ArmModel::default_arm().unwrap();
        let so101 = regrasp_sim::ArmModel::named("so101").unwrap();
        let cfg = |mode| crate::config::ImproveConfig { curriculum: mode, ..Default::default() };
        RunDir::create(&root.join("targeted"), &cfg(CurriculumMode::Targeted), &so101).unwrap();
        RunDir::create(&root.join("uniform-arm5"), &cfg(CurriculumMode::Uniform), &arm5).unwrap();
        let report = build(&root.join("targeted")).unwrap();
        assert_eq!(find_baseline(&report), None, "an arm5 run is no baseline for an SO-101 run");
        RunDir::create(&root.join("uniform-so101"), &cfg(CurriculumMode::Uniform), &so101).unwrap();
        assert_eq!(find_baseline(&report), Some(root.join("uniform-so101")));
        std::fs::remove_dir_all(&root).ok();
    }
}
