#!/usr/bin/env bash
# The Ray engine's test (cluster/ray/test_ray.py): Ray (pinned in cluster/ray/requirements.txt)
# from PyPI into .venv-ray/, a local 2-CPU Ray cluster started and stopped by the test inside a
# loopback-only network namespace, the smoke sweep run serially and on Ray (one worker killed mid-unit) and
# compared byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-ray
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet -r cluster/ray/requirements.txt
cargo build --release --quiet --bin regrasp
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# Ray's servers listen on every interface whatever --node-ip-address says, so the cluster runs in
# a network namespace of its own whose only interface is loopback (util-linux's unshare, as root).
if unshare --net true 2>/dev/null; then
  unshare --net sh -c 'ip link set lo up && exec "$@"' sh \
    "$VENV/bin/python" cluster/ray/test_ray.py --regrasp "$TARGET/release/regrasp"
else
  echo "warning: no network namespace (unshare --net refused): the local Ray cluster's ports are not loopback-only" >&2
  "$VENV/bin/python" cluster/ray/test_ray.py --regrasp "$TARGET/release/regrasp"
fi
