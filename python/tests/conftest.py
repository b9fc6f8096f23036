"""Fixtures: the regrasp binary (built by scripts/test-python.sh, found through REGRASP_BIN) and
a tiny checkpoint trained by it once per test session."""

import os
import subprocess

import pytest


def run(*cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed:\n{r.stderr}")
    return r.stdout


@pytest.fixture(scope="session")
def regrasp_bin():
    path = os.environ.get("REGRASP_BIN")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("REGRASP_BIN does not name the regrasp binary (scripts/test-python.sh sets it)")
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(regrasp_bin, tmp_path_factory):
    """A regrasp-arm5 checkpoint from a few hundred steps of BC + PPO: a weak policy, enough to
    check that Python runs the same policy the CLI does."""
    d = tmp_path_factory.mktemp("train")
    cfg = d / "train.toml"
    cfg.write_text(
        "envs = 2\nrollout_steps = 8\ntotal_env_steps = 700\n[model]\nhidden = 16\n[ppo]\nminibatch = 8\n"
        "[bc]\nepisodes = 4\nepochs = 2\ndagger_rounds = 1\ndagger_episodes = 2\ndagger_epochs = 1\n"
    )
    run(regrasp_bin, "train", "--config", cfg, "--out", d / "run", "--warm-start", "bc", "--no-record")
    return d / "run" / "checkpoints" / (d / "run" / "latest").read_text().strip()


@pytest.fixture
def small_suite(tmp_path):
    """A frozen-suite file of 6 held-out scenarios."""
    p = tmp_path / "small.toml"
    p.write_text('name = "small"\nseed_space = "heldout"\nfirst_seed = 0\n\n[[part]]\ncount = 6\n')
    return p
