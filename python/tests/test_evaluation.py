"""Evaluation from Python runs the same policy on the same suite as the CLI, episodes stored by
the CLI replay exactly from Python, and an exported ONNX policy runs on a suite."""

import json

import numpy as np
import pytest

import regrasp

from conftest import run


def test_a_checkpoint_scores_as_in_the_cli_and_its_episodes_replay(regrasp_bin, tiny_checkpoint, small_suite, tmp_path):
    episodes_file = tmp_path / "episodes.jsonl"
    cli = json.loads(run(regrasp_bin, "eval", "--policy", tiny_checkpoint, "--suite", small_suite,
                         "--episodes-out", episodes_file, "--no-record", "--json"))
    py = regrasp.evaluate_checkpoint(tiny_checkpoint, suite=str(small_suite), threads=2)
    for key in ("episodes", "successes", "success_rate", "ci95", "outcomes", "policy_hash"):
        assert py[key] == cli[key], key
    world = regrasp.make_world()
    stored = regrasp.read_episodes(str(episodes_file))
    assert len(stored) == 6
    policy = regrasp.Policy(world, str(tiny_checkpoint))
    _, ours = policy.evaluate(str(small_suite), threads=1)
    for e, o in zip(stored, ours):
        steps, final, outcome = e.replay(world)
        assert steps == len(e) and final == e.final_state_hash == o.final_state_hash
        assert outcome["kind"] == e.outcome["kind"]
        # The stored actions, stepped from Python with the policy acting, are the policy's own.
        env = regrasp.GraspEnv(world=world)
        obs, _ = env.reset(options={"scenario": e.scenario})
        a = np.frombuffer(policy.act(obs.tobytes()), "<f4")
        assert np.allclose(a, np.frombuffer(e.actions(world), "<f4").reshape(-1, 5)[0], atol=1e-6)


def test_an_altered_episode_is_a_divergence(regrasp_bin, tiny_checkpoint, small_suite, tmp_path):
    episodes_file = tmp_path / "episodes.jsonl"
    run(regrasp_bin, "eval", "--policy", tiny_checkpoint, "--suite", small_suite, "--episodes-out", episodes_file,
        "--no-record", "--json")
    lines = episodes_file.read_text().splitlines()
    record = json.loads(lines[0])
    record["final_state_hash"] ^= 1
    episodes_file.write_text(json.dumps(record) + "\n")
    (e,) = regrasp.read_episodes(str(episodes_file))
    with pytest.raises(regrasp.ReplayDivergence, match="final state hash"):
        e.replay(regrasp.make_world())


def test_an_exported_onnx_policy_runs_on_a_suite(regrasp_bin, tiny_checkpoint, small_suite, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "export"
    run(regrasp_bin, "export", "policy", tiny_checkpoint, "--out", out, "--json")
    onnx_report = regrasp.evaluate_onnx(out / "policy.onnx", suite=str(small_suite), num_envs=4)
    rust_report = regrasp.evaluate_checkpoint(tiny_checkpoint, suite=str(small_suite))
    assert onnx_report["episodes"] == rust_report["episodes"] == 6
    assert set(onnx_report["outcomes"]) <= set(regrasp.OUTCOMES)
    # onnxruntime's float arithmetic is not regrasp's: outcomes may differ by an episode or so.
    assert abs(onnx_report["successes"] - rust_report["successes"]) <= 2
