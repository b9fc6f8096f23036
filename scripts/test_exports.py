#!/usr/bin/env python3
"""Checks `regrasp export policy` with the readers users have (run by scripts/test-exports.sh).

Trains a tiny policy with the regrasp binary, exports it, and checks, failing loudly:
- onnx.checker accepts policy.onnx, and onnxruntime runs it: its actions for the test vectors
  (at least 1,000 observations from real episodes) equal regrasp's own inference (|Δ| ≤ 1e-5);
- policy.safetensors loads with safetensors (numpy, no torch), holds every tensor the sidecar
  lists with its shape, and a plain numpy forward pass over it in PyTorch's layout
  (y = x · Wᵀ + b) gives the same actions;
- the sidecar's observation and action layouts have the lengths the model takes and gives.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime
from safetensors.numpy import load_file

TOL = 1e-5  # float32 normaliser and matmuls against regrasp's f64 normaliser


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def check(ok, what):
    if not ok:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--regrasp", required=True)
    p.add_argument("--arm", default="regrasp-arm5")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "train.toml")
        with open(cfg, "w") as f:
            f.write(
                "envs = 2\nrollout_steps = 8\ntotal_env_steps = 700\n[model]\nhidden = 16\n[ppo]\nminibatch = 8\n"
                "[bc]\nepisodes = 4\nepochs = 2\ndagger_rounds = 1\ndagger_episodes = 2\ndagger_epochs = 1\n"
            )
        run_dir = os.path.join(d, "run")
        run([a.regrasp, "train", "--arm", a.arm, "--config", cfg, "--out", run_dir, "--warm-start", "bc", "--no-record"])
        ckpt = os.path.join(run_dir, "checkpoints", open(os.path.join(run_dir, "latest")).read().strip())
        out = os.path.join(d, "export")
        summary = json.loads(run([a.regrasp, "export", "policy", ckpt, "--arm", a.arm, "--out", out, "--json"]))
        side = json.load(open(os.path.join(out, "policy.json")))
        check(side["policy"] == summary["policy"], "the sidecar names the exported policy")

        model = onnx.load(os.path.join(out, "policy.onnx"))
        onnx.checker.check_model(model, full_check=True)
        check(True, f"onnx.checker accepts policy.onnx (opset {model.opset_import[0].version}, IR {model.ir_version})")
        sess = onnxruntime.InferenceSession(os.path.join(out, "policy.onnx"), providers=["CPUExecutionProvider"])
        tv = load_file(os.path.join(out, side["test_vectors"]["file"]))
        obs, want, want_norm = tv["observation"], tv["action"], tv["action_normalized"]
        check(len(obs) >= 1000 and len(obs) == side["test_vectors"]["rows"], f"{len(obs)} test vectors from real episodes")
        check(obs.shape[1] == len(side["observation"]), "the observation layout names every input entry")
        got, got_norm = sess.run(["action", "action_normalized"], {"observation": obs})
        err = float(np.max(np.abs(got - want)))
        err_norm = float(np.max(np.abs(got_norm - want_norm)))
        check(err_norm < TOL, f"onnxruntime's normalised actions equal regrasp's (max error {err_norm:.2e})")
        check(err < TOL, f"onnxruntime's actions equal regrasp's (max error {err:.2e})")
        low = np.array([x["low"] for x in side["action"]], dtype=np.float32)
        high = np.array([x["high"] for x in side["action"]], dtype=np.float32)
        check(bool(np.all(got >= low - 1e-7) and np.all(got <= high + 1e-7)), "actions lie within the documented bounds")
        one = sess.run(["action"], {"observation": obs[:1]})[0]
        check(float(np.max(np.abs(one - got[:1]))) < 1e-6, "a batch of one gives the same action as in a batch")

        t = load_file(os.path.join(out, "policy.safetensors"))
        for e in side["safetensors"]["tensors"]:
            check(list(t[e["name"]].shape) == e["shape"], f"safetensors holds {e['name']} {e['shape']}")
        z = np.clip((obs - t["obs_mean"]) / t["obs_std"], -side["normalizer"]["clip"], side["normalizer"]["clip"])
        h = np.tanh(z @ t["actor_in.weight"].T + t["actor_in.bias"])
        h = np.tanh(h @ t["actor_hidden.weight"].T + t["actor_hidden.bias"])
        mean = np.tanh(h @ t["actor_out.weight"].T + t["actor_out.bias"])
        err_st = float(np.max(np.abs(mean * t["action_scale"] - want)))
        check(err_st < TOL, f"a numpy forward pass over the safetensors (PyTorch layout) gives regrasp's actions ({err_st:.2e})")
        print(f"export checks passed for policy {summary['policy']} ({a.arm})")


if __name__ == "__main__":
    main()
