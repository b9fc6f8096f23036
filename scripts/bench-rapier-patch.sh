#!/usr/bin/env bash
# The rapier patch (vendor/rapier3d, vendor/rapier3d.patch) judged the way issue 22 asks: builds
# regrasp twice, with the patched rapier3d and with the released 0.36.1 from crates.io (the
# `[patch.crates-io]` line commented out in a copy of Cargo.toml, restored on exit), then
#   1. runs `scripted --json` over N training scenarios, scripted and expert controllers, both
#      arms, with each build and prints the successes and the digest of the final state hashes.
#      The digests differ by design since session 27: the patch's change 4 (ARCHITECTURE.md,
#      "The rapier patch") builds the multibody's mass matrix once per physics step; changes
#      1-3 alone are bit-identical (session 24), and so are changes 5-10 (sessions 32, 34, 35)
#      against the build before each.
#      The success counts are what must not get worse;
#   2. alternates `bench sim --single-thread --json` between the two binaries for ROUNDS rounds
#      and prints each round's physics steps/s and the ratio (patched / released).
# Usage: scripts/bench-rapier-patch.sh [ROUNDS] [EPISODES]   (defaults 5 and 300)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
EPISODES=${2:-300}
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
OUT=$(mktemp -d)
cp Cargo.toml "$OUT/Cargo.toml.orig"
cp Cargo.lock "$OUT/Cargo.lock.orig"
restore() {
  cp "$OUT/Cargo.toml.orig" Cargo.toml
  cp "$OUT/Cargo.lock.orig" Cargo.lock
}
trap 'restore; rm -rf "$OUT"' EXIT

sed -i 's|^rapier3d = { path = "vendor/rapier3d" }|# &|' Cargo.toml
grep -q '^# rapier3d = { path = "vendor/rapier3d" }' Cargo.toml || { echo "the [patch.crates-io] line for rapier3d was not found in Cargo.toml" >&2; exit 1; }
echo "building with the released rapier3d 0.36.1 ..." >&2
cargo build --release --quiet --bin regrasp
cp "$TARGET/release/regrasp" "$OUT/regrasp-released"
restore
echo "building with the patched rapier3d ..." >&2
cargo build --release --quiet --bin regrasp
cp "$TARGET/release/regrasp" "$OUT/regrasp-patched"

digest() {
  "$1" scripted --arm "$2" --controller "$3" --episodes "$EPISODES" --json \
    | python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["successes"], r["final_states_digest"])'
}
for arm in regrasp-arm5 so101; do
  for controller in scripted expert; do
    released=$(digest "$OUT/regrasp-released" $arm $controller)
    patched=$(digest "$OUT/regrasp-patched" $arm $controller)
    echo "$arm $controller, $EPISODES episodes: released (successes digest) $released, patched $patched"
  done
done

physics() {
  "$1" bench sim --single-thread --steps 2000 --json \
    | python3 -c 'import json, sys; r = json.load(sys.stdin)["single_thread"]; print(round(r["physics_steps_per_s"]))'
}
ratios=()
for round in $(seq 1 "$ROUNDS"); do
  released=$(physics "$OUT/regrasp-released")
  patched=$(physics "$OUT/regrasp-patched")
  ratio=$(python3 -c "print(f'{$patched / $released:.2f}')")
  ratios+=("$ratio")
  echo "round $round: released $released physics steps/s, patched $patched: ${ratio}x"
done
python3 -c "
import statistics, sys
r = [float(x) for x in sys.argv[1:]]
print(f'patched / released, physics steps/s, one thread, {len(r)} rounds: median {statistics.median(r):.2f}x (range {min(r):.2f}-{max(r):.2f}x)')
" "${ratios[@]}"
