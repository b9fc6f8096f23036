"""The Ray engine against the serial one, on a local Ray cluster (2 CPUs, loopback only,
started here and stopped after): the smoke sweep's merged comparison and checkpoints are the
same byte for byte, a worker killed in the middle of a unit is retried without changing the
result, a unit run again adds no ledger row, and a merge with a unit missing names it.

    python cluster/ray/test_ray.py --regrasp target/release/regrasp
"""

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SPEC = os.path.join(ROOT, "examples", "sweeps", "smoke.toml")


def check(ok, what):
    if not ok:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}", flush=True)


def run(*cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=ROOT, **kw)
    if r.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{r.stdout}\n{r.stderr}")
    return r


def rows(run_dir):
    con = sqlite3.connect(os.path.join(run_dir, "ledger.sqlite"))
    try:
        return tuple(con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("generations", "evaluations"))
    finally:
        con.close()


def checkpoints(sweep):
    return {d: sorted(os.listdir(os.path.join(sweep, d, "checkpoints")))
            for d in sorted(os.listdir(sweep)) if os.path.isdir(os.path.join(sweep, d, "checkpoints"))}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_unit_worker(sweep, ledger, attempts, killed):
    """Kills the Ray worker running unit 0 once its run has a ledger (mid-unit)."""
    deadline = time.time() + 120
    while time.time() < deadline:
        if os.path.exists(ledger) and os.path.exists(attempts):
            pid = int(open(attempts).read().split()[0])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.01)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--regrasp", required=True)
    a = p.parse_args()
    regrasp = os.path.abspath(a.regrasp)
    tmp = tempfile.mkdtemp(prefix="regrasp-ray-")
    serial, on_ray, missing = (os.path.join(tmp, d) for d in ("serial", "ray", "missing"))
    port = free_port()
    ray_env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    try:
        for d in (serial, on_ray, missing):
            run(regrasp, "sweep", "plan", SPEC, "--out", d)
        start = time.time()
        want = run(regrasp, "sweep", "run", serial).stdout
        serial_s = time.time() - start
        check(len(json.load(open(os.path.join(serial, "plan.json")))["units"]) == 8, "the smoke sweep has 8 units")

        run(sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--node-ip-address=127.0.0.1",
            f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", env=ray_env)
        killed = []
        killer = threading.Thread(target=kill_unit_worker, args=(
            on_ray, os.path.join(on_ray, "improve-targeted-s3", "ledger.sqlite"),
            os.path.join(on_ray, "unit-0.attempts"), killed))
        killer.start()
        start = time.time()
        driver = run(sys.executable, os.path.join(HERE, "sweep.py"), on_ray, "--address", f"127.0.0.1:{port}",
                     "--regrasp", regrasp, env=ray_env)
        ray_s = time.time() - start
        killer.join()
        summary = json.loads(driver.stderr.strip().splitlines()[-1])
        check(bool(killed), "unit 0's worker was killed in the middle of its run")
        attempts = open(os.path.join(on_ray, "unit-0.attempts")).read().split("\n")
        check(len([x for x in attempts if x]) == 2, "unit 0 was retried once after its worker died")
        got = open(os.path.join(on_ray, "comparison.txt")).read()
        if got != want:
            import difflib
            sys.stdout.writelines(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "serial", "ray"))
        check(got == want, "the merged comparison on Ray equals the serial one byte for byte")
        check(checkpoints(on_ray) == checkpoints(serial), "every run holds the same checkpoints (hashes) as serially")
        for run_dir in ("improve-targeted-s3", "improve-uniform-s4"):
            a_, b_ = (open(os.path.join(d, run_dir, "report.txt")).read() for d in (serial, on_ray))
            check(a_.replace(serial, "") == b_.replace(on_ray, ""), f"{run_dir}: the same report")

        before = rows(os.path.join(on_ray, "improve-targeted-s3"))
        again = json.loads(run(regrasp, "sweep", "run-unit", on_ray, "--index", "0", "--json").stdout)
        check(again["outcome"] == "AlreadyDone", "a unit run again does nothing")
        check(rows(os.path.join(on_ray, "improve-targeted-s3")) == before, "and adds no ledger row")

        m = subprocess.run([regrasp, "sweep", "merge", missing], capture_output=True, text=True)
        check(m.returncode != 0 and "unit 0" in m.stderr and not m.stdout, "a merge with units missing names them")

        print(json.dumps({"serial_wall_s": round(serial_s, 1), "ray_wall_s": round(ray_s, 1),
                          "ray_units_wall_s": round(summary["units_wall_s"], 1),
                          "mean_task_overhead_s": round(summary["mean_task_overhead_s"], 3),
                          "units": summary["units"], "note": "the Ray run includes one killed worker's retry"}))
    finally:
        subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], capture_output=True,
                       env=ray_env)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
