"""The vector env: parallel stepping in Rust gives the same results on 1 and 2 threads,
Gymnasium's next-step autoreset, and the same episodes as the single env."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import regrasp


def rollout(threads, steps=160, n=4, seed=3):
    env = regrasp.GraspVectorEnv(num_envs=n, threads=threads, arm="so101")
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    rewards, flags, outcomes = [], [], []
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(rng.uniform(-1, 1, size=(n, 5)).astype(np.float32))
        out.append(obs)
        rewards.append(r)
        flags.append(term | trunc)
        if "outcome" in info:
            outcomes.append((tuple(info["_outcome"]), tuple(info["outcome"][info["_outcome"]]),
                             tuple(info["state_hash"][info["_outcome"]])))
    return np.stack(out), np.stack(rewards), np.stack(flags), outcomes, env.state_hashes()


def test_one_and_two_threads_give_identical_results():
    a, b = rollout(1), rollout(2)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert np.array_equal(a[2], b[2]) and a[3] == b[3] and a[4] == b[4]
    assert a[2].any(), "some episodes ended (and were autoreset) within the rollout"


def test_next_step_autoreset():
    env = gym.make_vec("regrasp/Grasp-v0", num_envs=2, vectorization_mode="vector_entry_point", arm="regrasp-arm5")
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    world = env.unwrapped.world if hasattr(env, "unwrapped") else env.world
    actions, rust_hash, outcome = world.demonstrate(world.sample(0))
    actions = np.frombuffer(actions, "<f4").reshape(-1, 5)
    env.reset(options={"scenarios": [world.sample(0), world.sample(1)]})
    for k, a in enumerate(actions):
        obs, r, term, trunc, info = env.step(np.stack([a, np.zeros(5, np.float32)]))
    assert (term | trunc)[0], "env 0 ended on the expert's last step"
    assert info["_outcome"][0] and info["state_hash"][0] == rust_hash and info["outcome"][0] == "success"
    before = env.unwrapped.state_hashes()
    obs, r, term, trunc, info = env.step(np.stack([np.ones(5, np.float32), np.zeros(5, np.float32)]))
    assert r[0] == 0 and not term[0] and not trunc[0], "the step after the end resets env 0, ignoring its action"
    assert env.unwrapped.state_hashes()[0] != before[0]
    # Env 0 now runs the first scenario of its training stream (stream 0: envs count from 0).
    single = regrasp.GraspEnv(world=world)
    first, _ = single.reset(seed=0)
    assert np.array_equal(obs[0], first)


def test_vector_and_single_envs_agree():
    world = regrasp.make_world("so101")
    scenarios = world.suite("heldout")[:3]
    vec = regrasp.GraspVectorEnv(num_envs=3, world=world)
    obs, _ = vec.reset(options={"scenarios": scenarios})
    single = regrasp.GraspEnv(world=world)
    for i, s in enumerate(scenarios):
        o, _ = single.reset(options={"scenario": s})
        assert np.array_equal(o, obs[i])


def test_a_nan_action_names_its_env_and_moves_nothing():
    env = regrasp.GraspVectorEnv(num_envs=3, arm="regrasp-arm5")
    env.reset(seed=0)
    before = env.state_hashes()
    actions = np.zeros((3, 5), np.float32)
    actions[2, 1] = np.nan
    with pytest.raises(ValueError, match="env 2.*dy"):
        env.step(actions)
    assert env.state_hashes() == before
    with pytest.raises(ValueError, match=r"shape \(3, 5\)"):
        env.step(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="num_envs"):
        regrasp.GraspVectorEnv(num_envs=0)
