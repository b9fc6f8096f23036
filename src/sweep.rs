//! `regrasp sweep plan/run-unit/merge/run`: a sweep of `improve` runs and their final tests as
//! numbered work units that any engine (a shell loop, Ray, a Slurm array, a Kubernetes Indexed
//! Job) can run; the rules live in `regrasp_curriculum::sweep`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use regrasp_curriculum::report::render_comparison;
use regrasp_curriculum::sweep::{SweepPlan, SweepSpec, UnitOutcome, merge, plan, run_unit, write_reports};

use crate::args::{JsonArg, log_line};

#[derive(Subcommand)]
pub enum SweepCommand {
    /// Turn a sweep spec (TOML: name, arm, curricula, seeds, config, overrides, final_test) into
    /// numbered work units in DIR/plan.json: every improve run, then every run's final test.
    Plan(PlanArgs),
    /// Run one unit of a planned sweep. Idempotent: a done unit does nothing, a run killed
    /// half-way resumes from its ledger and ends as an uninterrupted one would.
    RunUnit(RunUnitArgs),
    /// The comparison of the sweep's runs (what `report --test` prints), in unit order, and
    /// each run's report.txt/report.png; with a unit not done, names it and merges nothing.
    Merge(MergeArgs),
    /// Every unit in order on this machine, then the merge (the serial engine).
    Run(MergeArgs),
}

#[derive(Args)]
pub struct PlanArgs {
    /// The sweep spec (TOML).
    spec: PathBuf,
    /// The sweep directory: plan.json and every run go here.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    output: JsonArg,
}

#[derive(Args)]
pub struct RunUnitArgs {
    /// The sweep directory (holding plan.json).
    dir: PathBuf,
    /// The unit's index (0-based); default: $REGRASP_UNIT, $SLURM_ARRAY_TASK_ID or
    /// $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), the first one set.
    #[arg(long)]
    index: Option<usize>,
    #[command(flatten)]
    output: JsonArg,
}

#[derive(Args)]
pub struct MergeArgs {
    /// The sweep directory (holding plan.json).
    dir: PathBuf,
    #[command(flatten)]
    output: JsonArg,
}

pub fn plan_sweep(a: PlanArgs) -> Result<()> {
    let spec = SweepSpec::from_path(&a.spec)?;
    let arm = regrasp_sim::ArmModel::from_arg(spec.arm.as_deref(), None)?;
    let p = plan(spec, &a.spec, &arm)?;
    p.save(&a.out)?;
    if a.output.json {
        out!("{}", serde_json::json!({ "dir": a.out, "units": p.units }));
    } else {
        for (i, u) in p.units.iter().enumerate() {
            out!("{i:>3}  {}", u.describe());
        }
        out!("{} units in {}", p.units.len(), a.out.join("plan.json").display());
    }
    Ok(())
}

fn unit_index(given: Option<usize>) -> Result<usize> {
    if let Some(i) = given {
        return Ok(i);
    }
    for var in ["REGRASP_UNIT", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"] {
        if let Ok(v) = std::env::var(var) {
            return v.trim().parse().with_context(|| format!("${var} = {v:?} is not a unit index"));
        }
    }
    anyhow::bail!("no unit index: give --index I (or set REGRASP_UNIT, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)")
}

fn run_one(dir: &std::path::Path, p: &SweepPlan, index: usize, start: Instant) -> Result<UnitOutcome> {
    let arm = Arc::new(p.arm()?);
    let unit = p.unit(index)?.describe();
    log_line(start, &format!("unit {index}: {unit}"));
    let outcome = run_unit(dir, p, index, arm, &mut |_| {}, &mut |line| log_line(start, line))
        .with_context(|| format!("unit {index}: {unit}"))?;
    log_line(
        start,
        &format!("unit {index}: {}", if outcome == UnitOutcome::AlreadyDone { "already done" } else { "done" }),
    );
    Ok(outcome)
}

pub fn run_unit_verb(a: RunUnitArgs) -> Result<()> {
    let p = SweepPlan::load(&a.dir)?;
    let index = unit_index(a.index)?;
    let start = Instant::now();
    let outcome = run_one(&a.dir, &p, index, start)?;
    if a.output.json {
        out!("{}", serde_json::json!({ "index": index, "outcome": outcome, "wall_s": start.elapsed().as_secs_f64() }));
    }
    Ok(())
}

pub fn merge_verb(a: MergeArgs) -> Result<()> {
    let p = SweepPlan::load(&a.dir)?;
    let m = merge(&a.dir, &p)?;
    write_reports(&a.dir, &p)?;
    if a.output.json {
        out!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    if let Some(c) = &m.comparison {
        out!("{}", render_comparison(c));
    }
    for e in &m.evaluations {
        let outcomes: Vec<String> =
            e.outcomes.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        out!("evaluation {}; {}", e.headline(), outcomes.join(", "));
    }
    Ok(())
}

pub fn run_all(a: MergeArgs) -> Result<()> {
    let p = SweepPlan::load(&a.dir)?;
    let start = Instant::now();
    for index in 0..p.units.len() {
        run_one(&a.dir, &p, index, start)?;
    }
    merge_verb(a)
}
