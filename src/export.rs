//! `regrasp export`: regrasp's policies and episodes in formats other tools read.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::args::{JsonArg, WorldArgs};

#[derive(Subcommand)]
pub enum ExportCommand {
    /// A checkpoint as policy.safetensors (every weight, PyTorch layout), policy.onnx (the
    /// actor: raw observation → action, normaliser and action scaling included) and
    /// policy.json (observation and action layouts with units, arm, control rate), and
    /// test_vectors.safetensors (observations from real episodes, regrasp's actions for them).
    Policy(ExportPolicyArgs),
    /// Episodes as a LeRobotDataset v3.0 (Parquet; state, object pose, regrasp's observation,
    /// action, reward, done, success per control step; provenance per episode). Every episode
    /// is replayed exactly first, so the dataset cannot disagree with its source.
    Lerobot(ExportLerobotArgs),
}

#[derive(Args)]
pub struct ExportLerobotArgs {
    /// An `improve` run directory (its evaluated episodes; --suite and --outcome filter them),
    /// an episode file (JSON lines, as `eval` writes them) or a directory holding
    /// `episodes.jsonl`; or none, with --controller expert or --policy and --suite.
    source: Option<PathBuf>,
    /// Make fresh episodes with a privileged controller (`expert`: the grasp expert that labels
    /// DAgger's states) on the arm's training distribution.
    #[arg(long, value_parser = ["expert", "scripted"], conflicts_with_all = ["source", "policy"])]
    controller: Option<String>,
    /// How many fresh episodes (--controller).
    #[arg(long, default_value_t = 100)]
    episodes: u64,
    /// Seed of the fresh episodes' training scenarios (--controller).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Make fresh episodes by evaluating this checkpoint on --suite.
    #[arg(long, requires = "suite", conflicts_with = "source")]
    policy: Option<PathBuf>,
    /// With --policy, the suite to evaluate on (`train`, `heldout`, `ood`, … or a suite file);
    /// with a run, only its episodes of this suite (probe, heldout, ood, canary, boundary/<g>,
    /// test-heldout, test-ood).
    #[arg(long)]
    suite: Option<String>,
    /// Keep only episodes with this outcome: `success`, `failure`, or a failure mode.
    #[arg(long)]
    outcome: Option<regrasp_policy::eval::OutcomeFilter>,
    /// Output directory (the dataset root, `LeRobotDataset(repo_id, root=OUT)`).
    #[arg(long)]
    out: PathBuf,
    /// Replace the output directory if it is not empty.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    world: WorldArgs,
    #[command(flatten)]
    output: JsonArg,
}

pub fn export_lerobot(a: ExportLerobotArgs) -> Result<()> {
    use regrasp_policy::eval::{EpisodeRecord, LoadedPolicy, evaluate, read_episodes};
    use regrasp_sim::suite::{EvalSuite, SeedSpace};
    let (arm, env, dist) = a.world.load()?;
    let records: Vec<EpisodeRecord> = if let Some(c) = &a.controller {
        let scenarios: Vec<_> = (0..a.episodes).map(|i| dist.sample(SeedSpace::training_seed(a.seed, i))).collect();
        let runs =
            regrasp_sim::vec_env::run_controller(arm.clone(), env.clone(), &scenarios, 0, &|| {}, c == "expert")?;
        runs.into_iter().zip(scenarios).map(|(r, s)| EpisodeRecord::of_controller(s, r, c)).collect()
    } else if let (Some(p), Some(s)) = (&a.policy, &a.suite) {
        let suite = EvalSuite::load(s, &arm.task)?;
        let policy = LoadedPolicy::load(p, &arm, regrasp_sim::ObsLayout::new(arm.dof()).len())?;
        evaluate(&policy, &arm, &env, &suite.name, &suite.scenarios(), &|| {})?.1
    } else if let Some(src) = a.source.as_ref().filter(|s| s.join(regrasp_curriculum::run::LEDGER_FILE).exists()) {
        let run = regrasp_curriculum::run::RunDir::open(src)?;
        run.check_arm(&arm)?;
        let suite: Option<regrasp_curriculum::vocabulary::Suite> =
            a.suite.as_deref().map(|s| s.parse().map_err(|e| anyhow::anyhow!("--suite {s}: {e}"))).transpose()?;
        run.episodes_of(suite)?.into_iter().map(|e| e.record).collect()
    } else if let Some(src) = &a.source {
        if a.suite.is_some() {
            anyhow::bail!("--suite filters a run's episodes or names the suite for --policy; an episode file has none");
        }
        let file = if src.is_dir() { src.join("episodes.jsonl") } else { src.clone() };
        if !file.is_file() {
            anyhow::bail!(
                "{}: not an episode file (JSON lines, as `eval` writes them) nor a directory holding episodes.jsonl",
                src.display()
            );
        }
        read_episodes(&file)?
    } else {
        anyhow::bail!("nothing to export: give an episode file, --controller expert, or --policy with --suite");
    };
    let records: Vec<EpisodeRecord> =
        records.into_iter().filter(|r| a.outcome.is_none_or(|f| f.keeps(r.outcome.kind))).collect();
    let s = regrasp_logs::lerobot::write_dataset(&arm, &env, &records, &a.out, a.force)?;
    if a.output.json {
        out!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    out!(
        "LeRobot dataset v3.0 at {}: {} episodes, {} frames, {} tasks, {:.1} MB in {:.1} s ({:.0} episodes/s)",
        s.dir.display(),
        s.episodes,
        s.frames,
        s.tasks,
        s.bytes as f64 / 1e6,
        s.seconds,
        s.episodes_per_s
    );
    Ok(())
}

#[derive(Args)]
pub struct ExportPolicyArgs {
    /// Checkpoint directory.
    policy: PathBuf,
    /// Output directory (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// Observations (at least) collected as test vectors from whole episodes of the arm's
    /// training distribution run with the policy.
    #[arg(long, default_value_t = 1000)]
    test_vectors: usize,
    /// Replace the output directory if it is not empty.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    world: WorldArgs,
    #[command(flatten)]
    output: JsonArg,
}

pub fn export_policy(a: ExportPolicyArgs) -> Result<()> {
    let (arm, env, _) = a.world.load()?;
    let s = regrasp_policy::export::export_policy(&a.policy, &arm, &env, &a.out, a.test_vectors, a.force)?;
    if a.output.json {
        out!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    out!("exported policy {} for the {} arm ({} test vectors):", s.policy, arm.profile.name, s.test_vectors);
    for f in &s.files {
        out!("  {}", f.display());
    }
    Ok(())
}
