#!/usr/bin/env bash
# regrasp's physics beside MuJoCo's on the same arm URDF, rates and grasp, one thread each,
# alternating in one run (scripts/bench_vs_mujoco.py says what each side runs). Installs the
# pinned MuJoCo from PyPI into .venv-bench/ (once) and builds regrasp in release. Arguments go
# to the Python script: --rounds N, --steps N (control steps per round and side), --json, --cpu N
# (both sides pinned to CPU N).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-bench
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet mujoco==3.3.7 numpy==2.4.6
fi
cargo build --release --quiet --bin regrasp
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
exec "$VENV/bin/python" scripts/bench_vs_mujoco.py --regrasp "$TARGET/release/regrasp" "$@"
