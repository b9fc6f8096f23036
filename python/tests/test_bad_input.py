"""Bad input raises a Python exception that names the problem; nothing crashes the interpreter."""

import numpy as np
import pytest

import regrasp


def test_unknown_arm():
    with pytest.raises(ValueError, match="`ur5` is not a shipped arm.*so101"):
        regrasp.GraspEnv(arm="ur5")


def test_missing_arm_files():
    with pytest.raises(OSError, match="nowhere.urdf"):
        regrasp.make_world(arm="/nowhere.urdf", arm_profile="/nowhere.toml")


def test_bad_overrides_name_the_field():
    with pytest.raises(ValueError, match="mas"):
        regrasp.make_world(distribution={"mas": {"lo": 0.1, "hi": 0.2}})
    with pytest.raises(ValueError, match="episode_seconds"):
        regrasp.make_world(config={"episode_seconds": -1.0})
    with pytest.raises(TypeError, match="config"):
        regrasp.make_world(config=42)


def test_scenario_out_of_range():
    world = regrasp.make_world()
    d = world.sample(0).to_dict()
    d["object"]["mass"] = 50.0
    env = regrasp.GraspEnv(world=world)
    with pytest.raises(ValueError, match="mass"):
        env.reset(options={"scenario": d})
    with pytest.raises(ValueError):
        regrasp.Scenario.parse("{not json")
    with pytest.raises(ValueError, match="not a training seed"):
        world.sample(2**62 + 5)
    with pytest.raises(ValueError, match="unknown key"):
        env.reset(options={"scenarios": []})


def test_actions_of_the_wrong_shape_or_not_finite():
    env = regrasp.GraspEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(5, np.float32))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        env.step(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        env.step(np.zeros((1, 5), np.float32))
    for k, name in enumerate(["dx", "dy", "dz", "dyaw", "gripper"]):
        a = np.zeros(5, np.float32)
        a[k] = np.inf if k % 2 else np.nan
        with pytest.raises(ValueError, match=f"`{name}` is not finite"):
            env.step(a)
    # The env is untouched and still runs.
    obs, *_ = env.step(np.zeros(5, np.float32))
    assert np.all(np.isfinite(obs))


def test_bad_seeds():
    env = regrasp.GraspEnv()
    for seed in (-1, 2**64, 1.5, "3"):
        with pytest.raises(ValueError, match="seed"):
            env.reset(seed=seed)


def test_bad_checkpoint_and_episode_file(tmp_path):
    world = regrasp.make_world()
    with pytest.raises((OSError, ValueError), match="nothing-here"):
        regrasp.Policy(world, str(tmp_path / "nothing-here"))
    bad = tmp_path / "episodes.jsonl"
    bad.write_text('{"scenario": 1}\n')
    with pytest.raises(ValueError, match="line 1"):
        regrasp.read_episodes(str(bad))
    with pytest.raises(ValueError, match="controller"):
        world.demonstrate(world.sample(0), "teleop")
