"""Evaluating a policy on a frozen suite from Python: a regrasp checkpoint (the same Rust code
and figures as ``regrasp eval``) or an exported ONNX policy (``regrasp export policy``) run by
onnxruntime against the same environment."""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any

import numpy as np

from ._regrasp import Policy, World
from .envs import GraspVectorEnv, make_world


def evaluate_checkpoint(checkpoint: str | os.PathLike, suite: str = "heldout", arm: str = "regrasp-arm5",
                        world: World | None = None, threads: int = 0) -> dict[str, Any]:
    """Runs a checkpoint directory on every scenario of ``suite``; returns ``regrasp eval``'s
    report (``success_rate``, ``ci95``, ``outcomes``, ...)."""
    w = world if world is not None else make_world(arm=arm)
    report, _episodes = Policy(w, os.fspath(checkpoint)).evaluate(suite, threads)
    return report


def wilson95(successes: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson interval of ``successes`` out of ``n`` (as ``regrasp eval`` reports it)."""
    if n == 0:
        return 0.0, 0.0
    z = 1.959963984540054
    p = successes / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def evaluate_onnx(model: str | os.PathLike, suite: str = "heldout", arm: str = "regrasp-arm5",
                  world: World | None = None, num_envs: int = 16, threads: int = 0) -> dict[str, Any]:
    """Runs an exported ``policy.onnx`` (input ``observation``, output ``action_normalized``) with
    onnxruntime on every scenario of ``suite``, ``num_envs`` at a time; returns the success rate,
    its 95 % interval and every outcome counted. Needs ``pip install onnxruntime``."""
    try:
        import onnxruntime
    except ImportError as e:
        raise ImportError("evaluate_onnx needs onnxruntime: pip install 'regrasp[onnx]'") from e
    w = world if world is not None else make_world(arm=arm)
    session = onnxruntime.InferenceSession(os.fspath(model), providers=["CPUExecutionProvider"])
    scenarios = w.suite(suite)
    outcomes: Counter[str] = Counter()
    for start in range(0, len(scenarios), num_envs):
        batch = scenarios[start:start + num_envs]
        env = GraspVectorEnv(num_envs=len(batch), threads=threads, world=w)
        obs, _ = env.reset(options={"scenarios": batch})
        done = np.zeros(len(batch), dtype=bool)
        while not done.all():
            (normalized,) = session.run(["action_normalized"], {"observation": obs})
            normalized = np.where(done[:, None], 0.0, normalized).astype(np.float32)
            obs, _, terminated, truncated, info = env.step(normalized)
            ended = (terminated | truncated) & ~done
            for i in np.flatnonzero(ended):
                outcomes[str(info["outcome"][i])] += 1
            done |= ended
    n = sum(outcomes.values())
    successes = outcomes.get("success", 0)
    return {
        "suite": suite,
        "episodes": n,
        "successes": successes,
        "success_rate": successes / n if n else 0.0,
        "ci95": list(wilson95(successes, n)),
        "outcomes": dict(sorted(outcomes.items())),
    }
