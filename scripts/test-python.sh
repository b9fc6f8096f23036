#!/usr/bin/env bash
# The Python package's tests (python/tests, pytest): builds and installs regrasp's Python package
# with `pip install ./python` (maturin, from PyPI) into .venv-test/, beside the pinned test
# requirements (python/requirements-test.txt and the export readers), then runs pytest against
# the regrasp binary. Shares CARGO_TARGET_DIR when set; python/Cargo.toml's feature alignment
# (scripts/python-features.py) lets the extension reuse the main build's compiled crates.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-test
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet -r scripts/export-readers.txt -r python/requirements-test.txt
python3 scripts/python-features.py --check || echo "warning: the Python extension will recompile shared crates"
cargo build --release --quiet --bin regrasp
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
"$VENV/bin/pip" install --quiet --force-reinstall --no-deps ./python
cd python/tests
REGRASP_BIN="$TARGET/release/regrasp" "../../$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
