//! `regrasp replay` and `regrasp bench logging`: stored episodes re-simulated exactly and
//! recorded, and what recording costs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use regrasp_curriculum::run::{LEDGER_FILE, RunDir};
use regrasp_curriculum::vocabulary::Suite;
use regrasp_logs::{EpisodeId, Recorder, Sink, StoredEpisode, replay_all};
use regrasp_policy::eval::{LoadedPolicy, file_episode, file_episodes};
use regrasp_sim::{ObsLayout, OutcomeKind};

use crate::args::{JsonArg, WorldArgs, sink_name};

#[derive(Args)]
pub struct ReplayArgs {
    /// An `improve` run directory (episodes indexed by its ledger), or an episode file
    /// (JSON lines) or a directory holding `episodes.jsonl`, as `eval` writes them.
    run: PathBuf,
    /// Episode id: `<policy>/<suite>/<index>` in a run, `<index>` (0-based) in an episode file.
    /// May be given several times.
    #[arg(long, required_unless_present = "failures")]
    episode: Vec<EpisodeId>,
    /// Replay failed episodes.
    #[arg(long, conflicts_with = "episode")]
    failures: bool,
    /// Only failures of this mode (e.g. slip_during_lift).
    #[arg(long, requires = "failures")]
    mode: Option<OutcomeKind>,
    /// Only episodes evaluated in this generation (runs only).
    #[arg(long, requires = "failures")]
    generation: Option<u32>,
    /// Only episodes of this suite (runs only: probe, heldout, ood, canary, boundary/<g>, real/<n>,
    /// test-heldout, test-ood).
    #[arg(long, requires = "failures")]
    suite: Option<Suite>,
    /// Replay at most this many failures.
    #[arg(long, default_value_t = 10, requires = "failures")]
    limit: usize,
    /// The policy checkpoint, for action distributions and value estimates in the recording
    /// (a run's own checkpoints are found by themselves).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The .rrd file to write (default: RUN/rerun/replay.rrd, or beside the episode file).
    #[arg(long, conflicts_with_all = ["spawn", "connect"])]
    out: Option<PathBuf>,
    /// Stream to a rerun viewer started now (needs `rerun` 0.36 on PATH).
    #[arg(long)]
    spawn: bool,
    /// Stream to a running rerun viewer at this address.
    #[arg(long, conflicts_with = "spawn")]
    connect: Option<String>,
    #[command(flatten)]
    output: JsonArg,
    #[command(flatten)]
    world: WorldArgs,
}

pub fn replay(a: ReplayArgs) -> Result<()> {
    let (arm, cfg, _) = a.world.load()?;
    if let Some(m) = a.mode.filter(|m| !m.is_failure()) {
        bail!("--mode {m}: not a failure mode");
    }
    let (episodes, default_out, mut policy_dirs): (Vec<StoredEpisode>, PathBuf, Vec<PathBuf>) =
        if a.run.join(LEDGER_FILE).exists() {
            let run = RunDir::open(&a.run)?;
            let eps = if a.failures {
                run.failures(a.generation, a.suite, a.mode, a.limit)?
            } else {
                a.episode.iter().map(|id| run.episode(id)).collect::<Result<Vec<_>, _>>()?
            };
            let dirs = eps.iter().filter_map(|e| run.checkpoint_dir(&e.record.policy_hash).ok()).collect();
            (eps, run.recordings().join("replay.rrd"), dirs)
        } else {
            if a.generation.is_some() || a.suite.is_some() {
                bail!(
                    "--generation and --suite need an improve run (a directory with {LEDGER_FILE}); {} is not one",
                    a.run.display()
                );
            }
            let file = if a.run.is_dir() { a.run.join("episodes.jsonl") } else { a.run.clone() };
            let eps = if a.failures {
                let failed = file_episodes(&file)?.into_iter().filter(|e| {
                    let kind = e.record.outcome.kind;
                    kind.is_failure() && a.mode.is_none_or(|m| m == kind)
                });
                failed.take(a.limit).collect()
            } else {
                let in_file = |id: &EpisodeId| match id {
                    EpisodeId::InFile { index } => Ok(file_episode(&file, *index, id)?),
                    _ => bail!("episode id `{id}`: expected an index into {}", file.display()),
                };
                a.episode.iter().map(in_file).collect::<Result<Vec<_>>>()?
            };
            (eps, file.with_file_name("replay.rrd"), Vec::new())
        };
    if episodes.is_empty() {
        bail!("no stored episode matches in {}", a.run.display());
    }
    policy_dirs.extend(a.policy.clone());
    policy_dirs.sort();
    policy_dirs.dedup();
    let obs_dim = ObsLayout::new(arm.dof()).len();
    let policies: Vec<LoadedPolicy> = policy_dirs
        .iter()
        .filter(|d| d.join("meta.output.json").exists())
        .map(|d| LoadedPolicy::load(d, &arm, obs_dim))
        .collect::<Result<_, _>>()?;
    let out = a.out.clone().unwrap_or(default_out);
    let rec = Recorder::new(
        &format!("replay {}", a.run.display()),
        Sink::from_flags(a.spawn, a.connect.as_deref(), Some(&out)),
    )?;
    let start = Instant::now();
    let replayed = replay_all(&arm, &cfg, &episodes, &policies, &rec)?;
    rec.flush()?;
    let wall = start.elapsed().as_secs_f64();
    if a.output.json {
        out!("{}", serde_json::json!({ "episodes": replayed, "rerun": sink_name(&rec), "wall_s": wall }));
        return Ok(());
    }
    for r in &replayed {
        out!(
            "{}: {} after {} steps, final state {:016x} (matches the stored hash)",
            r.id,
            r.outcome.kind.name(),
            r.steps,
            r.final_state_hash
        );
    }
    out!("{} episodes replayed exactly in {wall:.2} s; recorded to {}", replayed.len(), sink_name(&rec));
    Ok(())
}
