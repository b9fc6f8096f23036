"""Runs a planned regrasp sweep on Ray: each unit a Ray task with the CPUs it needs, a final
test scheduled after its improve run, a unit whose worker died or failed retried, then the merge.

    regrasp sweep plan examples/sweeps/benchmark-improve.toml --out /shared/sweeps/bench
    python cluster/ray/sweep.py /shared/sweeps/bench --address auto --regrasp /shared/bin/regrasp

The sweep directory and the regrasp binary must be at the same paths on every node (a shared
filesystem), or the job's working directory (``ray job submit --working-dir``) must carry
them. A unit is idempotent (``regrasp sweep run-unit``): a retry resumes the run from its ledger,
a unit already done does nothing, and two attempts of one unit never run at once (a file lock in
the sweep directory), so retries never change the result. The merged comparison is printed,
and written to ``comparison.txt`` in the sweep directory.
"""

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

import ray


def _die_with_parent():
    # The regrasp process ends when the Ray worker running it dies (Linux), so a retried
    # unit never races a leftover attempt.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@ray.remote
def run_unit(regrasp: str, sweep_dir: str, index: int, cpus: int, *after) -> dict:
    """Runs one unit; `after` holds the results of the units it needs (Ray waits for them)."""
    started = time.time()
    with open(os.path.join(sweep_dir, f"unit-{index}.attempts"), "a") as f:
        f.write(f"{os.getpid()} {started:.3f}\n")
    env = dict(os.environ, RAYON_NUM_THREADS=str(cpus))
    r = subprocess.run(
        [regrasp, "sweep", "run-unit", sweep_dir, "--index", str(index), "--json"],
        capture_output=True, text=True, env=env, preexec_fn=_die_with_parent,
    )
    if r.returncode != 0:
        raise RuntimeError(f"unit {index} failed (exit {r.returncode}):\n{r.stderr[-4000:]}")
    result = json.loads(r.stdout.strip().splitlines()[-1])
    result["task_wall_s"] = time.time() - started
    return result


def main() -> int:
    p = argparse.ArgumentParser(description="Run a planned regrasp sweep on Ray.")
    p.add_argument("sweep_dir", help="the sweep directory (holding plan.json), the same path on every node")
    p.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else a local cluster)")
    p.add_argument("--regrasp", default="regrasp", help="the regrasp binary, the same path on every node")
    p.add_argument("--cpus-per-unit", type=int, default=1, help="CPUs each unit reserves (and its thread count)")
    p.add_argument("--retries", type=int, default=3, help="attempts after the first, per unit")
    a = p.parse_args()
    sweep_dir = os.path.abspath(a.sweep_dir)
    with open(os.path.join(sweep_dir, "plan.json")) as f:
        plan = json.load(f)
    ray.init(address=a.address, include_dashboard=False, log_to_driver=False)
    task = run_unit.options(num_cpus=a.cpus_per_unit, max_retries=a.retries, retry_exceptions=True)
    start = time.time()
    refs = []
    for index, unit in enumerate(plan["units"]):
        after = [refs[unit["after"]]] if unit["kind"] == "final_test" else []
        refs.append(task.remote(a.regrasp, sweep_dir, index, a.cpus_per_unit, *after))
    results = ray.get(refs)
    units_s = time.time() - start
    merged = subprocess.run([a.regrasp, "sweep", "merge", sweep_dir], capture_output=True, text=True)
    if merged.returncode != 0:
        sys.stderr.write(merged.stderr)
        return merged.returncode
    with open(os.path.join(sweep_dir, "comparison.txt"), "w") as f:
        f.write(merged.stdout)
    sys.stdout.write(merged.stdout)
    summary = {
        "units": len(results),
        "ran": sum(r["outcome"] == "Ran" for r in results),
        "units_wall_s": units_s,
        # What a task adds around its unit (a process start, the plan read), in seconds.
        "mean_task_overhead_s": sum(r["task_wall_s"] - r["wall_s"] for r in results) / len(results),
    }
    sys.stderr.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
