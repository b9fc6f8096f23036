//! `regrasp improve` and `regrasp report`: the self-improvement loop, its progress lines and
//! its recording, and the report of one run or the comparison of several.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use regrasp_curriculum::improve::ImproveEvent;
use regrasp_curriculum::report::{build, compare, render_comparison, write};
use regrasp_curriculum::run::RunDir;
use regrasp_curriculum::{CurriculumMode, ImproveConfig, ImproveOptions};
use regrasp_logs::scalars::GenerationLog;
use regrasp_logs::{EpisodeId, Recorder, Sampling, fresh_file, read_episodes, record_evaluation};
use regrasp_sim::ArmModel;

use crate::args::{ArmArgs, JsonArg, RecordArgs, log_line, sink_name};

#[derive(Args)]
pub struct ImproveArgs {
    /// Loop config TOML (every field has a default; see examples/improve.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run directory (default: runs/improve-<curriculum>-s<seed>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Curriculum: `targeted` (failure-targeted, the default) or `uniform` (the ablation).
    #[arg(long, value_parser = ["targeted", "uniform"])]
    curriculum: Option<String>,
    /// Run seed (overrides the config's).
    #[arg(long)]
    seed: Option<u64>,
    /// Generations at most (overrides the config's max_generations; with --resume, raises or
    /// lowers the stored run's budget).
    #[arg(long)]
    generations: Option<u32>,
    /// Continue the run in OUT (its stored config is used; only --generations may change it).
    #[arg(long)]
    resume: bool,
    /// Stop after deciding this many generations in this invocation (for crash drills).
    #[arg(long, hide = true)]
    stop_after: Option<u32>,
    #[command(flatten)]
    output: JsonArg,
    #[command(flatten)]
    arm: ArmArgs,
    #[command(flatten)]
    record: RecordArgs,
}

#[derive(Args)]
pub struct ReportArgs {
    /// The run directory of `regrasp improve`; with several, a comparison table of their final
    /// champions (per run, mean per curriculum, targeted minus uniform per seed).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The uniform ablation to show beside it (default: a sibling run with curriculum
    /// `uniform`, the same seed and the same budget, if there is one).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Where to write the plot (default: RUN/report.png).
    #[arg(long)]
    png: Option<PathBuf>,
    /// Run the final test first where it has not run: each finished run's warm start and final
    /// champion on the final-test suites (`test-heldout`, `test-ood`: 1000 scenarios each that
    /// the gate, the curriculum and every choice never see), recorded in its ledger. About a
    /// minute per policy and suite on 2 cores.
    #[arg(long)]
    test: bool,
    /// The arm the runs were made for.
    #[command(flatten)]
    arm: ArmArgs,
    #[command(flatten)]
    output: JsonArg,
}

pub fn improve(a: ImproveArgs) -> Result<()> {
    if a.resume {
        // A resumed run keeps its stored config; an override would be silently ignored.
        for (given, flag) in
            [(a.config.is_some(), "--config"), (a.seed.is_some(), "--seed"), (a.curriculum.is_some(), "--curriculum")]
        {
            if given {
                bail!(
                    "{flag} cannot be given with --resume: a resumed run keeps the config stored in its ledger (only \
                     --generations, its budget, can change)"
                );
            }
        }
    }
    let arm = a.arm.load()?;
    let mut cfg = match &a.config {
        Some(p) => ImproveConfig::from_path_for(p, &arm.task)?,
        None => ImproveConfig::defaults_for(&arm.task),
    };
    if let Some(c) = &a.curriculum {
        cfg.curriculum = if c == "uniform" { CurriculumMode::Uniform } else { CurriculumMode::Targeted };
    }
    cfg.seed = a.seed.unwrap_or(cfg.seed);
    cfg.max_generations = a.generations.unwrap_or(cfg.max_generations);
    let out =
        a.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/improve-{}-s{}", cfg.curriculum.name(), cfg.seed)));
    let start = Instant::now();
    let opts = ImproveOptions {
        resume: a.resume,
        max_generations_now: a.stop_after,
        max_generations: a.generations.filter(|_| a.resume),
    };
    let rec = a.record.recorder(&format!("improve {}", out.display()), &fresh_file(&out.join("rerun"), "improve"))?;
    let mut recording = Recording { rec: &rec, sampling: a.record.sampling(), out: out.clone(), arm: Arc::clone(&arm) };
    let env_cfg = Arc::new(cfg.train.env.clone());
    let mut record_error: Option<anyhow::Error> = None;
    let mut last_decile: Option<(u32, u64)> = None;
    let summary = regrasp_curriculum::improve(cfg, arm, &out, opts, &mut |e| {
        if record_error.is_none() {
            record_error = recording.event(e, &env_cfg).err();
        }
        if let Some(line) = progress_line(e, &mut last_decile) {
            log_line(start, &line);
        }
    })
    .with_context(|| format!("improve run {}", out.display()))?;
    rec.flush()?;
    if let Some(err) = record_error {
        return Err(err);
    }
    let (text, rep) = write(&out, None, None)?;
    if a.output.json {
        let v = serde_json::json!({
            "summary": summary, "report": rep, "wall_s": start.elapsed().as_secs_f64(), "rerun": sink_name(&rec),
        });
        out!("{v}");
    } else {
        out!("{text}");
        out!("report: {} and {}", out.join("report.txt").display(), out.join("report.png").display());
        out!("rerun: {}", sink_name(&rec));
    }
    Ok(())
}

/// What the loop's events leave in the recording (the loop itself knows nothing of rerun).
struct Recording<'a> {
    rec: &'a Recorder,
    sampling: Sampling,
    out: PathBuf,
    arm: Arc<ArmModel>,
}

impl Recording<'_> {
    fn event(&mut self, e: &ImproveEvent, env_cfg: &Arc<regrasp_sim::EnvConfig>) -> Result<()> {
        if !self.rec.is_on() {
            return Ok(());
        }
        match e {
            ImproveEvent::Training { generation, env_steps, budget, stats, .. } => {
                self.rec.training((*generation as u64).saturating_sub(1) * budget + env_steps, stats);
            }
            ImproveEvent::Evaluated { policy, suite, episode_file: Some(file), .. } => {
                let records = read_episodes(file)?;
                let loaded = RunDir::open(&self.out)?.load_policy(policy, &self.arm)?;
                let id = |index| EpisodeId::in_run(policy, suite, index);
                record_evaluation(self.rec, &self.arm, env_cfg, &records, self.sampling, id, &[loaded])
                    .with_context(|| format!("recording the episodes of {}", file.display()))?;
            }
            ImproveEvent::Decided {
                generation,
                promoted,
                reasons,
                composition,
                success,
                champion_failures,
                parameters,
                ..
            } => self.rec.generation(&GenerationLog {
                generation: *generation,
                success: success.clone(),
                composition: composition.clone(),
                parameters: parameters.clone(),
                failures: champion_failures.clone(),
                promoted: *promoted,
                reasons: reasons.clone(),
            }),
            _ => {}
        }
        Ok(())
    }
}

/// The progress line of an event; training reports once per tenth of its budget.
fn progress_line(e: &ImproveEvent, last_decile: &mut Option<(u32, u64)>) -> Option<String> {
    Some(match e {
        ImproveEvent::Training { generation, env_steps, budget, episodes, env_steps_per_s, .. } => {
            let decile = (*generation, env_steps * 10 / (*budget).max(1));
            if Some(decile) == *last_decile {
                return None;
            }
            *last_decile = Some(decile);
            format!(
                "  training: {env_steps}/{budget} env steps, rollout success {}/{}, {env_steps_per_s:.0} env steps/s",
                episodes.1, episodes.0
            )
        }
        ImproveEvent::Stage { generation, what } => format!("gen {generation}: {what}"),
        ImproveEvent::Evaluated { policy, suite, success_rate, episodes, .. } => {
            format!("  {policy} on {suite}: {:.1}% of {episodes}", 100.0 * success_rate)
        }
        ImproveEvent::Decided { generation, promoted, heldout, p_value, reasons, composition, .. } => {
            let comp: Vec<String> =
                composition.iter().filter(|(_, v)| *v > 0.0).map(|(k, v)| format!("{k} {:.0}%", 100.0 * v)).collect();
            format!(
                "gen {generation}: {} (held-out {:.1}% -> {:.1}%, p = {p_value:.4}; curriculum {}){}",
                if *promoted { "PROMOTED" } else { "rolled back" },
                100.0 * heldout.0,
                100.0 * heldout.1,
                comp.join(", "),
                if *promoted { String::new() } else { format!("\n    why: {reasons}") }
            )
        }
        ImproveEvent::Stopped { reason } => format!("stopped: {reason}"),
    })
}

pub fn report(a: ReportArgs) -> Result<()> {
    if a.test {
        let arm = a.arm.load()?;
        let start = Instant::now();
        for r in &a.runs {
            regrasp_curriculum::final_test::run_final_test(r, Arc::clone(&arm), &mut |line| log_line(start, line))
                .with_context(|| format!("final test of {}", r.display()))?;
        }
    }
    if a.runs.len() > 1 {
        let reports = a
            .runs
            .iter()
            .map(|r| build(r).with_context(|| format!("run {}", r.display())))
            .collect::<Result<Vec<_>>>()?;
        let c = compare(&reports);
        if a.output.json {
            out!("{}", serde_json::to_string(&c)?);
        } else {
            out!("{}", render_comparison(&c));
        }
        return Ok(());
    }
    let (text, rep) = write(&a.runs[0], a.baseline.as_deref(), a.png.as_deref())?;
    if a.output.json {
        out!("{}", serde_json::to_string(&rep)?);
    } else {
        out!("{text}");
    }
    Ok(())
}
