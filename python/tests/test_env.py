"""The Gymnasium env and its spaces, checked against the Rust layout, and determinism across the
boundary: the same scenario and actions give the same observations, outcome and state hash from
Python as from Rust."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import regrasp

ARMS = ["regrasp-arm5", "so101"]


@pytest.mark.parametrize("arm", ARMS)
def test_gymnasium_check_env_passes(arm):
    env = gym.make("regrasp/Grasp-v0", arm=arm, disable_env_checker=True)
    check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("arm,joints", [("regrasp-arm5", 5), ("so101", 5)])
def test_spaces_match_the_rust_layout(arm, joints):
    env = regrasp.GraspEnv(arm=arm)
    world = env.world
    n = 2 * joints + 33
    assert env.observation_space.shape == (n,) and env.observation_space.dtype == np.float32
    assert world.obs_dim == n and len(env.obs_names) == n and len(set(env.obs_names)) == n
    assert env.obs_names[:joints] == [name for name in env.obs_names if name.endswith(".pos")][:joints]
    assert env.obs_names[2 * joints:2 * joints + 4] == ["gripper.opening", "tool.pos.x", "tool.pos.y", "tool.pos.z"]
    assert env.obs_names[-5:] == [f"prev_action.{a}" for a in regrasp.ACTION_NAMES]
    low, high = world.obs_bounds
    assert np.array_equal(env.observation_space.low, np.array(low, np.float32))
    assert np.array_equal(env.observation_space.high, np.array(high, np.float32))
    shape = env.obs_names.index("object.shape.box")
    assert env.observation_space.low[shape] == 0 and env.observation_space.high[shape] == 1
    assert np.isinf(env.observation_space.low[0]), "joint positions are unbounded"
    assert env.action_space.shape == (5,) and env.action_names == ["dx", "dy", "dz", "dyaw", "gripper"]
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)


def test_the_same_seed_gives_the_same_episode_and_streams_are_training_seeds():
    env = regrasp.GraspEnv(arm="so101")
    rng = np.random.default_rng(7)
    actions = rng.uniform(-1, 1, size=(40, 5)).astype(np.float32)

    def episode(seed):
        obs, info = env.reset(seed=seed)
        seen = [obs]
        for a in actions:
            obs, _, term, trunc, _ = env.step(a)
            seen.append(obs)
            if term or trunc:
                break
        return np.stack(seen), env.state_hash(), info["scenario"]

    a, ha, sa = episode(11)
    b, hb, sb = episode(11)
    c, hc, sc = episode(12)
    assert np.array_equal(a, b) and ha == hb and sa == sb
    assert sa != sc and hc != ha
    assert sa.seed_space == "train"
    # The k-th reset after reset(seed=s) draws training scenario (s, k), as World says.
    env.reset(seed=5)
    _, info = env.reset()
    assert info["scenario"] == env.world.training_scenario(5, 1)


@pytest.mark.parametrize("arm", ARMS)
@pytest.mark.parametrize("controller", ["scripted", "expert"])
def test_python_steps_reach_rusts_outcome_hash_and_observations(arm, controller):
    world = regrasp.make_world(arm)
    env = regrasp.GraspEnv(world=world)
    for scenario in [world.sample(seed) for seed in (0, 1, 2)] + world.suite("heldout")[:2]:
        actions, rust_hash, rust_outcome = world.demonstrate(scenario, controller)
        actions = np.frombuffer(actions, "<f4").reshape(-1, 5)
        obs, _ = env.reset(options={"scenario": scenario})
        observations = [obs]
        for k, a in enumerate(actions):
            obs, _, term, trunc, info = env.step(a)
            observations.append(obs)
            assert (term or trunc) == (k == len(actions) - 1), "the episode ends where Rust's did"
        assert info["state_hash"] == rust_hash == env.state_hash()
        assert info["outcome"] == regrasp.OUTCOMES[["Success", "MissedGrasp", "SlipDuringLift", "ObjectPushedAway",
                                                     "KnockedOver", "TableCollision", "JointLimit", "Timeout",
                                                     "PhysicsUnstable"].index(rust_outcome["kind"])]
        assert info["evidence"] == rust_outcome["evidence"]
        assert trunc == (info["outcome"] == "timeout") and term == (info["outcome"] != "timeout")
        assert info["is_success"] == (info["outcome"] == "success")
        assert info["failure_mode"] == (None if info["is_success"] else info["outcome"])
        # Rust's own replay of the same bytes: every observation bit for bit.
        steps, hash_, outcome, rust_obs = world.replay(scenario, actions.tobytes())
        assert steps == len(actions) and hash_ == rust_hash and outcome == rust_outcome
        assert np.frombuffer(rust_obs, "<f4").reshape(len(actions) + 1, -1).tobytes() == np.stack(observations).tobytes()


def test_the_expert_succeeds_from_python():
    world = regrasp.make_world("regrasp-arm5")
    env = regrasp.GraspEnv(world=world)
    successes = 0
    for seed in range(10):
        actions, _, _ = world.demonstrate(world.sample(seed))
        env.reset(options={"scenario": world.sample(seed)})
        for a in np.frombuffer(actions, "<f4").reshape(-1, 5):
            _, _, term, trunc, info = env.step(a)
        successes += info["is_success"]
    assert successes >= 8, f"the expert through Python succeeded {successes}/10"


def test_scenarios_serialise_and_pickle():
    world = regrasp.make_world("so101")
    s = world.suite("ood")[3]
    assert regrasp.Scenario.parse(s.to_json()) == s
    assert regrasp.Scenario.parse(s.to_toml(), "toml") == s
    assert pickle.loads(pickle.dumps(s)) == s
    assert s.to_dict()["seed"] == s.seed and s.seed_space == "ood"
    env = regrasp.GraspEnv(world=world)
    a, _ = env.reset(options={"scenario": s.to_dict()})
    b, _ = env.reset(options={"scenario": s})
    assert np.array_equal(a, b)


def test_suites_are_the_frozen_ones():
    heldout = regrasp.suites.load("heldout", arm="so101")
    assert len(heldout) == 200 and all(s.seed_space == "heldout" for s in heldout)
    assert len({s.seed for s in heldout}) == 200
    assert regrasp.suites.load("heldout", arm="so101") == heldout
    assert regrasp.suites.load("heldout") != heldout, "each arm is judged on its own suites"
    assert set(regrasp.suites.names()) >= {"train", "heldout", "ood", "canary", "test-heldout", "test-ood"}


def test_overrides_reach_the_simulation():
    base = regrasp.make_world("regrasp-arm5")
    heavy = regrasp.make_world("regrasp-arm5", distribution={"mass": {"lo": 0.3, "hi": 0.3}})
    assert heavy.sample(4).to_dict()["object"]["mass"] == pytest.approx(0.3)
    assert base.sample(4).to_dict()["object"]["mass"] != pytest.approx(0.3)
    short = regrasp.make_world("regrasp-arm5", config={"episode_seconds": 2.0})
    assert short.max_steps < base.max_steps
