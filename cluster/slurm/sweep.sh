#!/usr/bin/env bash
# A planned regrasp sweep on Slurm: one array job over the units of each phase (the improve runs,
# then their final tests, which wait for the whole first array with afterok), then the merge job
# after both. The sweep directory and the binary must be on a filesystem every node mounts at the
# same path.
#   regrasp sweep plan examples/sweeps/benchmark-improve.toml --out /shared/sweeps/bench
#   cluster/slurm/sweep.sh /shared/sweeps/bench /shared/bin/regrasp [CPUS_PER_UNIT]
# Each array task runs `regrasp sweep run-unit DIR`, which reads its index from
# SLURM_ARRAY_TASK_ID (offset by the phase's first unit through REGRASP_UNIT_OFFSET). A unit is
# idempotent: requeued or resubmitted, it resumes or does nothing.
set -euo pipefail
DIR=$(realpath "$1"); BIN=$(realpath "$2"); CPUS=${3:-2}
read -r IMPROVE TOTAL < <(python3 -c '
import json, sys
u = json.load(open(sys.argv[1] + "/plan.json"))["units"]
print(sum(x["kind"] == "improve" for x in u), len(u))' "$DIR")
mkdir -p "$DIR/slurm"
unit="REGRASP_UNIT=\$((SLURM_ARRAY_TASK_ID + REGRASP_UNIT_OFFSET)) RAYON_NUM_THREADS=$CPUS '$BIN' sweep run-unit '$DIR'"
first=$(sbatch --parsable --job-name=regrasp-improve --array=0-$((IMPROVE - 1)) --cpus-per-task="$CPUS" \
  --requeue --output="$DIR/slurm/unit-%a.out" --export=ALL,REGRASP_UNIT_OFFSET=0 --wrap="$unit")
after=$first
if [ "$TOTAL" -gt "$IMPROVE" ]; then
  after=$(sbatch --parsable --job-name=regrasp-final-test --array=0-$((TOTAL - IMPROVE - 1)) \
    --cpus-per-task="$CPUS" --requeue --dependency=afterok:"$first" --output="$DIR/slurm/unit-test-%a.out" \
    --export=ALL,REGRASP_UNIT_OFFSET="$IMPROVE" --wrap="$unit")
fi
merge=$(sbatch --parsable --job-name=regrasp-merge --dependency=afterok:"$after" \
  --output="$DIR/comparison.txt" --error="$DIR/slurm/merge.err" --wrap="\"$BIN\" sweep merge \"$DIR\"")
echo "submitted: improve array $first, final-test array $after, merge $merge (comparison in $DIR/comparison.txt)"
