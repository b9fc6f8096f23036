//! `regrasp-viewer`: the bevy workbench. `live` runs the scripted grasp or a checkpoint on
//! scenarios from a suite or the training distribution; `episodes` replays stored episodes on
//! a timeline. Kept out of the workspace's default build (bevy is large); build it with
//! `cargo build --release -p regrasp-viewer`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use bevy::prelude::*;
use bevy::window::WindowResolution;
use clap::{Parser, Subcommand};
use regrasp_policy::eval::LoadedPolicy;
use regrasp_sim::{ArmModel, GraspEnv};
use regrasp_viewer::episodes::{self, Episodes};
use regrasp_viewer::live::{Live, Pilot, Scenarios};
use regrasp_viewer::{Capture, Source, WorkbenchPlugin};

#[derive(Parser)]
#[command(name = "regrasp-viewer", version, about = "Watch a policy act, poke the scene, scrub stored episodes")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
    /// Window width (logical pixels).
    #[arg(long, default_value_t = 1280, global = true)]
    width: u32,
    /// Window height (logical pixels).
    #[arg(long, default_value_t = 800, global = true)]
    height: u32,
    /// Save a PNG of the window after `--after-frames` frames and exit (with the arm links'
    /// pixel positions beside it as JSON): for scripted checks under a virtual display.
    #[arg(long, global = true)]
    screenshot: Option<PathBuf>,
    /// Frames to render before the screenshot.
    #[arg(long, default_value_t = 30, global = true)]
    after_frames: u32,
    /// A shipped arm by name (`regrasp-arm5`, the default, or `so101`), or an arm URDF file
    /// together with --arm-profile; its task gives the env config, distribution and suites.
    #[arg(long, global = true)]
    arm: Option<String>,
    /// Arm profile TOML; --arm is then the URDF file.
    #[arg(long, global = true, requires = "arm")]
    arm_profile: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Mode {
    /// Run the scripted grasp (default) or a checkpoint live.
    Live {
        /// A checkpoint directory (e.g. runs/ft/checkpoints/<hash>); without it, the scripted grasp.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Scenarios from this suite (`train`, `heldout`, `ood`, `canary` or a suite file);
        /// without it, the training distribution from `--seed` on.
        #[arg(long)]
        suite: Option<String>,
        /// First seed of the training distribution.
        #[arg(long, default_value_t = 0, conflicts_with = "suite")]
        seed: u64,
        /// Start paused.
        #[arg(long)]
        paused: bool,
    },
    /// Replay stored episodes: an `improve` run directory (its episode store), an episode
    /// file, or a directory with episodes.jsonl.
    Episodes {
        /// Where the episodes are.
        path: PathBuf,
        /// Start at this episode: its id (`<policy>/<suite>/<index>` in a run, `<index>` in an
        /// episode file, as `regrasp replay` takes them) or its position in the list.
        #[arg(long)]
        episode: Option<String>,
        /// Start at the first failure.
        #[arg(long, conflicts_with = "episode")]
        failures: bool,
        /// The checkpoint that acted, for value estimates (default: found in the run directory).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

fn source(mode: Mode, arm: ArmModel) -> Result<Source> {
    let arm = Arc::new(arm);
    let cfg = Arc::new(arm.task.env.clone());
    let env = GraspEnv::new(Arc::clone(&arm), Arc::clone(&cfg))?;
    match mode {
        Mode::Live { policy, suite, seed, paused } => {
            let pilot = match policy {
                Some(p) => Pilot::load(&p, &arm, env.obs_dim())?,
                None => Pilot::Scripted,
            };
            let scenarios = match suite {
                Some(s) => Scenarios::suite(&s, &arm.task)?,
                None => Scenarios::Seeds { distribution: arm.task.distribution.clone() },
            };
            let mut live = Live::new(arm, cfg, pilot, scenarios, seed)?;
            live.paused = paused;
            Ok(Source::Live(Box::new(live)))
        }
        Mode::Episodes { path, episode, failures, policy } => {
            let entries = episodes::load(&path)?;
            let first = match (&episode, failures) {
                (Some(id), _) => entries
                    .iter()
                    .position(|e| e.id.to_string() == *id)
                    .or_else(|| id.parse::<usize>().ok().filter(|&i| i < entries.len()))
                    .with_context(|| {
                        format!("no episode {id} in {} (ids look like {})", path.display(), entries[0].id)
                    })?,
                (None, true) => entries
                    .iter()
                    .position(|e| e.record.outcome.kind.is_failure())
                    .with_context(|| format!("{} holds no failed episodes", path.display()))?,
                (None, false) => 0,
            };
            let mut policies = Vec::new();
            let mut paths: Vec<PathBuf> = policy.into_iter().collect();
            let mut seen = std::collections::BTreeSet::new();
            for e in &entries {
                if seen.insert(e.record.policy_hash.clone()) {
                    paths.extend(e.checkpoint.clone());
                }
            }
            for p in paths {
                policies.push(
                    LoadedPolicy::load(&p, &arm, env.obs_dim())
                        .with_context(|| format!("loading the policy {}", p.display()))?,
                );
            }
            Ok(Source::Episodes(Box::new(Episodes::new(env, entries, first, policies)?)))
        }
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(
        (64..=8192).contains(&cli.width) && (64..=8192).contains(&cli.height),
        "--width and --height must lie in [64, 8192] pixels"
    );
    let arm = ArmModel::from_arg(cli.arm.as_deref(), cli.arm_profile.as_deref())?;
    let source = source(cli.mode, arm)?;
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "regrasp viewer".into(),
            resolution: WindowResolution::new(cli.width, cli.height),
            ..default()
        }),
        ..default()
    }))
    .add_plugins(WorkbenchPlugin)
    .insert_resource(source);
    if let Some(path) = cli.screenshot {
        app.insert_resource(Capture::new(path, cli.after_frames.max(1)));
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => std::process::exit(code.get() as i32),
    }
}
