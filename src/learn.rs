//! `regrasp train`, `eval`, `locality` and `bench policy`: training a policy, measuring it on a
//! suite, where its failures lie, and what its inference costs.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use regrasp_logs::{EpisodeId, fresh_file, record_evaluation};
use regrasp_policy::config::TrainConfig;
use regrasp_policy::eval::{LoadedPolicy, evaluate, write_episodes};
use regrasp_policy::run::{Event, RunOptions};
use regrasp_sim::ObsLayout;
use regrasp_sim::suite::EvalSuite;

use crate::args::{ArmArgs, JsonArg, RecordArgs, WorldArgs, progress, sink_name};

#[derive(Args)]
pub struct TrainArgs {
    /// Training config TOML (every field has a default: the arm's task for `env` and
    /// `distribution`, examples/train.toml for the rest).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output directory of the run.
    #[arg(long)]
    out: PathBuf,
    /// Env control-step budget (overrides the config's total_env_steps).
    #[arg(long)]
    steps: Option<u64>,
    /// Warm start: `bc` clones the scripted grasp before PPO.
    #[arg(long, value_parser = ["bc"])]
    warm_start: Option<String>,
    /// Fine-tune this checkpoint directory (e.g. a champion) with PPO: its weights, normaliser
    /// and action noise, a fresh optimizer.
    #[arg(long, conflicts_with_all = ["warm_start", "resume"])]
    init: Option<PathBuf>,
    /// Continue the run in OUT from its latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Stop after this many PPO iterations in this invocation.
    #[arg(long)]
    max_iterations: Option<u64>,
    #[command(flatten)]
    arm: ArmArgs,
    #[command(flatten)]
    record: RecordArgs,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Checkpoint directory.
    #[arg(long)]
    policy: PathBuf,
    /// Suite: `train`, `heldout`, `ood`, or a suite TOML file.
    #[arg(long)]
    suite: String,
    /// Where to store the episodes (JSON lines) for replay
    /// (default: runs/eval/<suite>-<policy hash>/episodes.jsonl).
    #[arg(long)]
    episodes_out: Option<PathBuf>,
    #[command(flatten)]
    output: JsonArg,
    #[command(flatten)]
    world: WorldArgs,
    #[command(flatten)]
    record: RecordArgs,
}

#[derive(Args)]
pub struct LocalityArgs {
    /// Checkpoint directory.
    #[arg(long)]
    policy: PathBuf,
    /// Training scenarios to evaluate.
    #[arg(long, default_value_t = 200)]
    scenarios: u64,
    /// Neighbours of each kind per scenario.
    #[arg(long, default_value_t = 4)]
    neighbours: usize,
    /// Seed of the scenarios, the new seeds and the edits.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    output: JsonArg,
    #[command(flatten)]
    world: WorldArgs,
}

pub fn train(a: TrainArgs) -> Result<()> {
    let arm = a.arm.load()?;
    let mut cfg = match &a.config {
        Some(p) => TrainConfig::from_path_for(p, &arm.task)?,
        None => TrainConfig::defaults_for(&arm.task),
    };
    if let Some(s) = a.steps {
        cfg.total_env_steps = s;
    }
    let rec = a.record.recorder("train", &fresh_file(&a.out.join("rerun"), "train"))?;
    let pb = ProgressBar::new(cfg.total_env_steps);
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} env steps {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let opts = RunOptions {
        warm_start_bc: a.warm_start.is_some(),
        init: a.init.clone(),
        resume: a.resume,
        max_iterations: a.max_iterations,
        ..RunOptions::default()
    };
    let last = regrasp_policy::run::train(cfg, arm, &a.out, opts, &mut |e| match e {
        Event::BehaviourCloning { kept, episodes, env_steps, stats } => {
            pb.set_position(*env_steps);
            pb.println(format!(
                "behaviour cloning: {kept}/{episodes} demonstrations kept, {} samples, action mse {:.4}",
                stats.samples, stats.final_action_mse
            ));
        }
        Event::Dagger { round, beta, episodes, successes, samples, stats } => pb.println(format!(
            "DAgger round {round}: β {beta:.2}, {successes}/{episodes} episodes succeeded, {samples} samples, action \
             mse {:.4}",
            stats.final_action_mse
        )),
        Event::Iteration(s) => {
            rec.training(s.env_steps, s);
            pb.set_position(s.env_steps);
            let rate = if s.episodes > 0 { 100.0 * s.successes as f64 / s.episodes as f64 } else { 0.0 };
            pb.set_message(format!(
                "it {} | success {rate:.0}% | return {:.1} | {:.0} env steps/s | {:.0} learner samples/s",
                s.iteration, s.mean_return, s.env_steps_per_s, s.learner_samples_per_s
            ));
        }
        Event::Checkpoint { hash, env_steps, .. } => pb.println(format!("checkpoint {hash} at {env_steps} env steps")),
        Event::Episodes { .. } => {}
    })?;
    pb.finish_and_clear();
    out!(
        "trained: {} env steps, {} PPO iterations; final checkpoint {}",
        last.meta.env_steps,
        last.meta.iteration,
        a.out.join("checkpoints").join(&last.meta.content_hash).display()
    );
    Ok(())
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let (arm, cfg, _) = a.world.load()?;
    let suite = EvalSuite::load(&a.suite, &arm.task)?;
    let policy = LoadedPolicy::load(&a.policy, &arm, ObsLayout::new(arm.dof()).len())?;
    let scenarios = suite.scenarios();
    let pb = progress(scenarios.len() as u64, a.output.json);
    let (report, records) = evaluate(&policy, &arm, &cfg, &suite.name, &scenarios, &|| pb.inc(1))?;
    pb.finish_and_clear();
    let file = a.episodes_out.unwrap_or_else(|| {
        PathBuf::from("runs/eval").join(format!("{}-{}", suite.name, policy.hash)).join("episodes.jsonl")
    });
    write_episodes(&file, &records)?;
    let rec = a.record.recorder(&format!("eval {} {}", suite.name, policy.hash), &file.with_file_name("eval.rrd"))?;
    let sampling = a.record.sampling();
    let id = |index| EpisodeId::InFile { index };
    let recorded = record_evaluation(&rec, &arm, &cfg, &records, sampling, id, std::slice::from_ref(&policy))?;
    rec.flush()?;
    if a.output.json {
        let mut v = serde_json::to_value(&report)?;
        v["episodes_file"] = serde_json::json!(file.display().to_string());
        v["recorded_episodes"] = serde_json::json!(recorded);
        v["rerun"] = serde_json::json!(sink_name(&rec));
        out!("{v}");
        return Ok(());
    }
    out!("{}", report.headline());
    if let Some(t) = report.mean_time_to_lift_s {
        out!("  mean time to lift: {t:.2} s");
    }
    for (k, v) in report.outcomes.iter().filter(|(_, v)| **v > 0) {
        out!("  {k:<20} {v}");
    }
    out!("  episodes stored in {}", file.display());
    out!("  {recorded} episodes recorded in full: {}", sink_name(&rec));
    Ok(())
}

pub fn locality(a: LocalityArgs) -> Result<()> {
    let (arm, cfg, dist) = a.world.load()?;
    let policy = LoadedPolicy::load(&a.policy, &arm, ObsLayout::new(arm.dof()).len())?;
    let edit = regrasp_curriculum::config::GeneratorsConfig::default();
    let l =
        regrasp_curriculum::locality::measure(&policy, &arm, &cfg, &dist, &edit, a.scenarios, a.neighbours, a.seed)?;
    if a.output.json {
        out!("{}", serde_json::to_string(&l)?);
    } else {
        out!("{}", l.describe().trim_end());
    }
    Ok(())
}
