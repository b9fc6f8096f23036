#!/usr/bin/env bash
# The self-improvement benchmark: the failure-targeted curriculum against the uniform ablation
# at the same env-step budget, over several seeds (default 0 1 2), then one comparison table,
# as a sweep (examples/sweeps/benchmark-improve.toml) run on this machine by the same unit
# contract a cluster uses (`regrasp sweep plan/run-unit/merge`; cluster/ for Ray and Slurm).
# About 20 minutes per run on 2 cores, so about 2 hours for the default 3 seeds.
#   scripts/benchmark-improve.sh [SEED...]
# GENERATIONS sets every run's budget (default: the improve defaults); the sweep goes to
# runs/benchmark-improve-s<seeds>[-g<generations>]/. Run again, it resumes: done units do nothing,
# a run killed half-way continues from its ledger.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=("$@")
[ ${#seeds[@]} -eq 0 ] && seeds=(0 1 2)
# REGRASP_BIN: a regrasp binary to use as it is (e.g. a copy, so that rebuilding meanwhile does
# not swap it out under a running benchmark); otherwise it is built here.
if [ -n "${REGRASP_BIN:-}" ]; then
  bin="$REGRASP_BIN"
else
  cargo build --release
  bin="${CARGO_TARGET_DIR:-target}/release/regrasp"
fi
label=$(IFS=-; echo "${seeds[*]}")
dir="runs/benchmark-improve-s$label${GENERATIONS:+-g$GENERATIONS}"
mkdir -p "$dir"
{
  echo "name = \"benchmark-improve\""
  echo "curricula = [\"targeted\", \"uniform\"]"
  echo "seeds = [$(IFS=,; echo "${seeds[*]}")]"
  echo "final_test = true"
  if [ -n "${GENERATIONS:-}" ]; then printf '[overrides]\nmax_generations = %s\n' "$GENERATIONS"; fi
} > "$dir/spec.toml"
"$bin" sweep plan "$dir/spec.toml" --out "$dir"
"$bin" sweep run "$dir"
