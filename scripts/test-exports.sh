#!/usr/bin/env bash
# The export checks with the readers users have: ONNX's checker and onnxruntime, safetensors
# with numpy (scripts/test_exports.py), and lerobot's own dataset readers, pandas, pyarrow and
# Hugging Face datasets (scripts/test_lerobot.py); no torch. Installs the pinned readers
# (scripts/export-readers.txt) from PyPI into .venv-test/ and builds regrasp in release
# (sharing CARGO_TARGET_DIR when set).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-test
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet -r scripts/export-readers.txt
cargo build --release --quiet --bin regrasp
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
for arm in regrasp-arm5 so101; do
  "$VENV/bin/python" scripts/test_exports.py --regrasp "$TARGET/release/regrasp" --arm "$arm"
  "$VENV/bin/python" scripts/test_lerobot.py --regrasp "$TARGET/release/regrasp" --arm "$arm"
done
