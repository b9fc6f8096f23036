//! The `regrasp` command line: each verb parses its arguments, calls the workspace crates and
//! prints what they return. No rule of the system lives here.

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Prints a line on stdout. A closed stdout (output piped into `head`, say) ends the program
/// quietly instead of panicking; other write errors are returned.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = writeln!(stdout, $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(e.into());
        }
    }};
}

mod args;
mod bench;
mod export;
mod hw;
mod hw_feetech;
mod improve;
mod learn;
mod replay;
mod sim;
mod sweep;

/// regrasp: a self-improving robot grasping system.
#[derive(Parser)]
#[command(name = "regrasp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scripted grasp (true object pose) over scenarios from the training distribution.
    Scripted(sim::ScriptedArgs),
    /// Train a grasping policy (optionally warm-started by behaviour cloning), with periodic
    /// checkpoints under OUT/checkpoints/ and a log in OUT/train_log.jsonl.
    Train(learn::TrainArgs),
    /// Evaluate a checkpoint on a frozen suite (`train`, `heldout`, `ood` or a suite file).
    Eval(learn::EvalArgs),
    /// The main job: the self-improvement loop. A warm-started champion is evaluated on a probe
    /// set; its failures drive a curriculum; each challenger trains on it for a fixed budget and
    /// replaces the champion only if it is significantly better on the frozen held-out suite and
    /// no worse on OOD, canaries and safety. Leaves OUT/ledger.sqlite, checkpoints, episodes,
    /// report.txt and report.png.
    Improve(improve::ImproveArgs),
    /// Print the report of an `improve` run and write its plot.
    Report(improve::ReportArgs),
    /// Whether a policy's failures are local in scenario space (something a failure-targeted
    /// curriculum can aim at): its failure rate on neighbours of its failed and of its
    /// successful training scenarios (same scenario with a new seed; the `mutate` edit).
    Locality(learn::LocalityArgs),
    /// Re-simulate stored episodes exactly (the final state hash must match) and record them
    /// to rerun: one by id, or the failures of a run.
    Replay(replay::ReplayArgs),
    /// The hardware bridge: the emulator, and certified episodes on an arm.
    Hw {
        #[command(subcommand)]
        what: hw::HwCommand,
    },
    /// Export a policy (safetensors, ONNX) or episodes (a LeRobot dataset) for other tools.
    Export {
        #[command(subcommand)]
        what: export::ExportCommand,
    },
    /// Sweeps of improve runs and their final tests as numbered work units for any engine
    /// (serial, Ray, Slurm, Kubernetes), merged into one comparison.
    Sweep {
        #[command(subcommand)]
        what: sweep::SweepCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Control and physics steps per second on the default scene, one thread and all cores.
    Sim(bench::BenchSimArgs),
    /// Microseconds per action of policy inference on one core.
    Policy(bench::BenchPolicyArgs),
    /// What rerun recording costs: scalars per PPO iteration against the iteration's own time,
    /// and full episode recording per control step against plain replay.
    Logging(bench::BenchLoggingArgs),
    /// The hardware control loop over the emulator: 50 Hz tick lateness, envelope time per
    /// check, e-stop trigger to stop frame, firmware tick jitter.
    Hw(bench::BenchHwArgs),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Scripted(a) => sim::scripted(a),
        Command::Bench { what: BenchCommand::Sim(a) } => bench::bench_sim(a),
        Command::Bench { what: BenchCommand::Policy(a) } => bench::bench_policy(a),
        Command::Bench { what: BenchCommand::Logging(a) } => bench::bench_logging(a),
        Command::Bench { what: BenchCommand::Hw(a) } => bench::bench_hw(a),
        Command::Hw { what: hw::HwCommand::Emulate(a) } => hw::emulate(a),
        Command::Hw { what: hw::HwCommand::Run(a) } => hw::run(a),
        Command::Hw { what: hw::HwCommand::Validate(a) } => hw::validate(a),
        Command::Hw { what: hw::HwCommand::Lockstep(a) } => hw::lockstep(a),
        Command::Hw { what: hw::HwCommand::Calibrate(a) } => hw_feetech::calibrate(a),
        Command::Train(a) => learn::train(a),
        Command::Eval(a) => learn::eval(a),
        Command::Improve(a) => improve::improve(a),
        Command::Report(a) => improve::report(a),
        Command::Locality(a) => learn::locality(a),
        Command::Replay(a) => replay::replay(a),
        Command::Export { what: export::ExportCommand::Policy(a) } => export::export_policy(a),
        Command::Export { what: export::ExportCommand::Lerobot(a) } => export::export_lerobot(a),
        Command::Sweep { what: sweep::SweepCommand::Plan(a) } => sweep::plan_sweep(a),
        Command::Sweep { what: sweep::SweepCommand::RunUnit(a) } => sweep::run_unit_verb(a),
        Command::Sweep { what: sweep::SweepCommand::Merge(a) } => sweep::merge_verb(a),
        Command::Sweep { what: sweep::SweepCommand::Run(a) } => sweep::run_all(a),
    }
}
