#!/usr/bin/env python3
"""Checks `regrasp export lerobot` with the readers lerobot itself uses (run by
scripts/test-exports.sh): pandas and pyarrow for meta/, Hugging Face `datasets` for data/,
as lerobot 0.6's LeRobotDatasetMetadata and LeRobotDataset load them (no torch needed).

Exports fresh expert demonstrations for an arm, then checks: info.json (v3.0, counts, fps,
features for every data column), tasks.parquet read by pandas with the task strings as its index,
the episodes table (lengths, contiguous frame ranges, regrasp's provenance columns), and the
frames loaded by `datasets` (count, feature names and shapes, timestamps = frame_index / fps,
indices, the state equal to the joint and gripper entries of regrasp's observation).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import datasets
import numpy as np
import pandas as pd


def check(ok, what):
    if not ok:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--regrasp", required=True)
    p.add_argument("--arm", default="regrasp-arm5")
    p.add_argument("--episodes", type=int, default=20)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "dataset")
        cmd = [a.regrasp, "export", "lerobot", "--arm", a.arm, "--controller", "expert",
               "--episodes", str(a.episodes), "--out", root, "--json"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
        summary = json.loads(r.stdout)
        info = json.load(open(os.path.join(root, "meta", "info.json")))
        check(info["codebase_version"] == "v3.0", "info.json says v3.0")
        check(info["total_episodes"] == a.episodes == summary["episodes"], f"{a.episodes} episodes")
        check(info["fps"] == 20, "fps is the control rate (20 Hz)")

        tasks = pd.read_parquet(os.path.join(root, "meta", "tasks.parquet"))
        check(len(tasks) == info["total_tasks"] and all(t.startswith("Grasp the ") for t in tasks.index),
              f"pandas reads {len(tasks)} task strings as the index")
        check(list(tasks["task_index"]) == list(range(len(tasks))), "task_index counts from 0")

        eps = pd.read_parquet(os.path.join(root, "meta", "episodes", "chunk-000", "file-000.parquet"))
        check(len(eps) == a.episodes and list(eps["episode_index"]) == list(range(a.episodes)), "one row per episode")
        check(int(eps["length"].sum()) == info["total_frames"], "episode lengths add up to the frames")
        check(list(eps["dataset_from_index"][1:]) == list(eps["dataset_to_index"][:-1]), "frame ranges are contiguous")
        check(all(len(t) == 1 and t[0] in tasks.index for t in eps["tasks"]), "each episode names a known task")
        for col in ["regrasp/seed", "regrasp/outcome", "regrasp/failure_mode", "regrasp/policy_hash",
                    "regrasp/state_hash", "regrasp/scenario"]:
            check(col in eps.columns, f"provenance column {col}")
        check(set(eps["regrasp/policy_hash"]) == {"expert"}, "the demonstrations name their controller")
        check(all((o == "success") == (m == "") for o, m in zip(eps["regrasp/outcome"], eps["regrasp/failure_mode"])),
              "a failure mode exactly where the episode failed")

        feats = info["features"]
        ds = datasets.load_dataset("parquet", data_files=os.path.join(root, "data", "*", "*.parquet"), split="train")
        check(len(ds) == info["total_frames"], f"datasets loads {len(ds)} frames")
        check(set(ds.column_names) == set(feats), "every data column is a declared feature and back")
        ds = ds.with_format("numpy")
        for name, f in feats.items():
            col = np.asarray(ds[name])
            shape = list(col.shape[1:]) or [1]
            check(shape == f["shape"], f"{name} has shape {f['shape']}")
            if f["names"] is not None:
                check(len(f["names"]) == f["shape"][0], f"{name} names each of its {f['shape'][0]} entries")
        ts = np.asarray(ds["timestamp"])
        fi = np.asarray(ds["frame_index"])
        check(np.allclose(ts, fi / info["fps"], atol=1e-4), "timestamps are frame_index / fps (lerobot's tolerance)")
        check(list(np.asarray(ds["index"])) == list(range(len(ds))), "index is the global frame index")
        names = feats["observation.regrasp"]["names"]
        obs = np.asarray(ds["observation.regrasp"])
        state = np.asarray(ds["observation.state"])
        picked = [names.index(n) for n in feats["observation.state"]["names"]]
        check(np.array_equal(state, obs[:, picked]), "the state is the joint and gripper entries of the observation")
        done = np.asarray(ds["next.done"])
        check(int(done.sum()) == a.episodes, "each episode ends with one done frame")
        stats = json.load(open(os.path.join(root, "meta", "stats.json")))
        check(np.allclose(stats["action"]["mean"], np.asarray(ds["action"]).mean(axis=0), atol=1e-6),
              "stats.json's action mean is the data's")
        print(f"LeRobot checks passed ({a.arm}: {len(ds)} frames, {summary['episodes_per_s']:.0f} episodes/s)")


if __name__ == "__main__":
    main()
