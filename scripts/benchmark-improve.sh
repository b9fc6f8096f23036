#!/usr/bin/env bash
# The self-improvement benchmark: the failure-targeted curriculum against the uniform ablation
# at the same env-step budget, over several seeds (default 0 1 2), then one comparison table.
# About 20 minutes per run on 2 cores, so about 2 hours for the default 3 seeds.
#   scripts/benchmark-improve.sh [SEED...]
# Existing runs are resumed (a finished one is left as it is). IMPROVE_ARGS adds flags to every
# `improve` (e.g. IMPROVE_ARGS=--no-record: no rerun recordings; results are the same).
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
runs=()
for s in "${seeds[@]}"; do
  for c in targeted uniform; do
    out="runs/improve-$c-s$s"
    runs+=("$out")
    if [ -f "$out/ledger.sqlite" ]; then
      # Resuming a finished run changes nothing, unless IMPROVE_ARGS raises its budget
      # (--generations N): then it continues exactly as a start with that budget would have.
      echo "== $out: resuming"
      "$bin" improve --out "$out" --resume ${IMPROVE_ARGS:-} > /dev/null
    else
      echo "== $out"
      "$bin" improve --curriculum "$c" --seed "$s" --out "$out" ${IMPROVE_ARGS:-} > /dev/null
    fi
  done
done
# Each run's report again, now that every ablation exists: a targeted run's plot draws its
# uniform ablation beside it only when that run had finished.
for r in "${runs[@]}"; do
  "$bin" report "$r" > /dev/null
done
# The comparison, after the final test of every run (its warm start and final champion on
# test-heldout and test-ood, which the loop never sees; each evaluation runs once).
"$bin" report --test "${runs[@]}"
