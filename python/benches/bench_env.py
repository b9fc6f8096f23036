"""Throughput of regrasp's Python envs, printed as JSON (a benchmark, not a test).

- ``vector``: control steps per second of ``GraspVectorEnv`` stepped from Python with ``--envs``
  envs on all cores, each replaying the grasp expert's demonstrations of its own training
  scenarios (precomputed, not timed), so that grasps and lifts are exercised as in
  ``regrasp bench sim``'s scripted workload; the steps that autoreset an env count as steps.
- ``single``: microseconds per ``GraspEnv.step`` from Python replaying the same kind of
  episodes, the part of it spent inside the simulation's own step (timed in Rust), and their
  difference: what the binding costs per step (argument checks, the info dict, the
  observation's conversion to numpy, the Python wrapper). The same actions replayed by Rust
  alone (``World.replay``) are timed beside them.
"""

import argparse
import json
import time

import numpy as np

import regrasp


def demonstrations(world, stream, count):
    out = []
    for k in range(count):
        actions, _, _ = world.demonstrate(world.training_scenario(stream, k))
        out.append(np.frombuffer(actions, "<f4").reshape(-1, 5))
    return out


def vector(world, envs, steps, threads):
    plans = [demonstrations(world, i, max(2, steps // 40 + 2)) for i in range(envs)]
    env = regrasp.GraspVectorEnv(num_envs=envs, threads=threads, world=world)
    env.reset(seed=0)  # env i runs training stream i, whose scenarios the plans demonstrate
    episode = [0] * envs
    cursor = [0] * envs
    actions = np.zeros((envs, 5), np.float32)
    start = time.perf_counter()
    for _ in range(steps):
        for i in range(envs):
            plan = plans[i][episode[i] % len(plans[i])]
            actions[i] = plan[min(cursor[i], len(plan) - 1)]
        _, _, term, trunc, _ = env.step(actions)
        for i in range(envs):
            cursor[i] += 1
            if term[i] or trunc[i]:
                episode[i] += 1
                cursor[i] = -1  # the next step resets this env; its action is ignored
    wall = time.perf_counter() - start
    return {"envs": envs, "threads": env._env.threads, "control_steps": envs * steps, "wall_s": wall,
            "control_steps_per_s": envs * steps / wall}


def single(world, episodes):
    env = regrasp.GraspEnv(world=world)
    py_steps, py_time, rust_time = 0, 0.0, 0.0
    for k in range(episodes):
        scenario = world.training_scenario(1000, k)
        actions, _, _ = world.demonstrate(scenario)
        rows = np.frombuffer(actions, "<f4").reshape(-1, 5)
        env.reset(options={"scenario": scenario})
        start = time.perf_counter()
        for a in rows:
            env.step(a)
        py_time += time.perf_counter() - start
        py_steps += len(rows)
        start = time.perf_counter()
        world.replay(scenario, actions)
        rust_time += time.perf_counter() - start
    py_us, rust_us = py_time / py_steps * 1e6, rust_time / py_steps * 1e6
    inside_us = env.unwrapped._env.sim_seconds / py_steps * 1e6
    return {"steps": py_steps, "python_us_per_step": py_us, "inside_sim_us_per_step": inside_us,
            "python_overhead_us_per_step": py_us - inside_us, "rust_replay_us_per_step": rust_us}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arm", default="regrasp-arm5")
    p.add_argument("--envs", type=int, default=8)
    p.add_argument("--steps", type=int, default=1000, help="control steps per env")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--episodes", type=int, default=20, help="episodes for the single-env figure")
    a = p.parse_args()
    world = regrasp.make_world(a.arm)
    print(json.dumps({"arm": a.arm, "vector": vector(world, a.envs, a.steps, a.threads),
                      "single": single(world, a.episodes)}))


if __name__ == "__main__":
    main()
