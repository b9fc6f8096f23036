#!/usr/bin/env bash
# Python env throughput beside `regrasp bench sim` at the same env count (issue #24's target:
# within 10 %), and the single-env step overhead from Python. Installs the package like
# scripts/test-python.sh, then alternates the two benchmarks ROUNDS times (default 3) and prints
# each pair and its ratio. Usage: scripts/bench-python.sh [ENVS] [STEPS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ENVS=${1:-8}; STEPS=${2:-1000}; ROUNDS=${3:-3}
VENV=.venv-test
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet -r scripts/export-readers.txt -r python/requirements-test.txt
cargo build --release --quiet --bin regrasp
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
"$VENV/bin/pip" install --quiet --force-reinstall --no-deps ./python
for round in $(seq "$ROUNDS"); do
  rust=$("$TARGET/release/regrasp" bench sim --envs "$ENVS" --steps "$STEPS" --json)
  py=$("$VENV/bin/python" python/benches/bench_env.py --envs "$ENVS" --steps "$STEPS")
  python3 - "$round" "$rust" "$py" <<'PY'
import json, sys
r, rust, py = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
a, b = rust["all_cores"]["control_steps_per_s"], py["vector"]["control_steps_per_s"]
s = py["single"]
print(json.dumps({"round": int(r), "envs": py["vector"]["envs"], "threads": py["vector"]["threads"],
                  "rust_bench_sim_control_steps_per_s": round(a, 1), "python_vector_control_steps_per_s": round(b, 1),
                  "python_over_rust": round(b / a, 3), "single_python_us_per_step": round(s["python_us_per_step"], 1),
                  "single_inside_sim_us_per_step": round(s["inside_sim_us_per_step"], 1),
                  "single_rust_replay_us_per_step": round(s["rust_replay_us_per_step"], 1),
                  "single_python_overhead_us_per_step": round(s["python_overhead_us_per_step"], 1)}))
PY
done
