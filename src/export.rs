//! `regrasp export`: regrasp's policies in formats other tools read.

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
