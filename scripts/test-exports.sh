#!/usr/bin/env bash
# The export checks with the readers users have (scripts/test_exports.py): ONNX's checker and
# onnxruntime, safetensors with numpy (no torch). Installs the pinned readers from PyPI into
# .venv-test/ (once) and builds regrasp in release (sharing CARGO_TARGET_DIR when set).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-test
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0 safetensors==0.8.0
fi
cargo build --release --quiet --bin regrasp
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
for arm in regrasp-arm5 so101; do
  "$VENV/bin/python" scripts/test_exports.py --regrasp "$TARGET/release/regrasp" --arm "$arm"
done
