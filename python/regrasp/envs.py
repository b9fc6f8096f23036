"""Gymnasium 1.x environments over regrasp's Rust ``GraspEnv``.

``GraspEnv`` is one env (``gymnasium.make("regrasp/Grasp-v0", ...)``); ``GraspVectorEnv`` is a
``gymnasium.vector.VectorEnv`` whose sub-envs step in parallel in Rust with the interpreter
released (``gymnasium.make_vec("regrasp/Grasp-v0", num_envs=8,
vectorization_mode="vector_entry_point")``), with next-step autoreset.

Spaces: the observation is a ``Box`` of float32 whose entries, names (``obs_names``) and bounds
are the Rust layout's (2 × joints + 33 entries); the action is ``Box(-1, 1, (5,))``: the tool's
displacement along world x, y, z, its yaw change and the gripper command, each normalised to the
world's limits (``World.action_limits``: metres and radians per control step). An episode ends
with an outcome decided by the classifier: a timeout is ``truncated``, every other outcome
``terminated``; ``info`` then carries ``outcome``, ``is_success``, ``failure_mode``, its
``evidence``, the ``safety`` figures and the ``state_hash``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from . import _regrasp
from ._regrasp import Scenario, World

ACTION_DIM = len(_regrasp.ACTION_NAMES)


def _path_or_overrides(value: Any, what: str) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, dict):
        return None, json.dumps(value)
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value), None
    raise TypeError(f"{what}: give a TOML file path or a dict of fields, not {type(value).__name__}")


def make_world(arm: str = "regrasp-arm5", arm_profile: str | os.PathLike | None = None, config: Any = None,
               distribution: Any = None) -> World:
    """A world: a shipped arm by name (or a URDF path with ``arm_profile``), its env config and
    training distribution, each optionally overlaid by a TOML file or a dict of fields (the
    format of ``examples/env.toml`` and ``examples/distribution.toml``)."""
    config_path, config_over = _path_or_overrides(config, "config")
    dist_path, dist_over = _path_or_overrides(distribution, "distribution")
    return World(
        arm=arm,
        arm_profile=None if arm_profile is None else os.fspath(arm_profile),
        config=config_path,
        config_overrides=config_over,
        distribution=dist_path,
        distribution_overrides=dist_over,
    )


def _scenario(value: Any) -> Scenario:
    if isinstance(value, Scenario):
        return value
    if isinstance(value, dict):
        return Scenario.parse(json.dumps(value), "json")
    if isinstance(value, str):
        return Scenario.parse(value, "toml" if "=" in value.split("\n", 1)[0] else "json")
    raise TypeError(f"scenario: give a regrasp.Scenario, a dict or its JSON/TOML text, not {type(value).__name__}")


def _seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, (bool, float)) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed: {seed!r} is not an integer in [0, 2^64)")
    return int(seed)


def _observations(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32).reshape(shape)


def _action_bytes(action: Any, shape: tuple[int, ...]) -> bytes:
    a = np.asarray(action, dtype=np.float32)
    if a.shape != shape:
        raise ValueError(f"action: expected shape {shape} (normalised dx, dy, dz, dyaw, gripper), got {a.shape}")
    return a.astype("<f4", copy=False).tobytes()


def _spaces(world: World) -> tuple[spaces.Box, spaces.Box]:
    low, high = world.obs_bounds
    obs = spaces.Box(np.array(low, dtype=np.float32), np.array(high, dtype=np.float32), dtype=np.float32)
    act = spaces.Box(-1.0, 1.0, shape=(ACTION_DIM,), dtype=np.float32)
    return obs, act


class GraspEnv(gymnasium.Env):
    """One grasping episode at a time over the Rust simulation (see the module docs)."""

    metadata = {"render_modes": []}

    def __init__(self, arm: str = "regrasp-arm5", arm_profile: str | os.PathLike | None = None, config: Any = None,
                 distribution: Any = None, world: World | None = None, render_mode: str | None = None):
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r}: regrasp's env does not render; replay episodes in rerun")
        self.world = world if world is not None else make_world(arm, arm_profile, config, distribution)
        self._env = _regrasp.Env(self.world)
        self.observation_space, self.action_space = _spaces(self.world)
        self.obs_names = list(self.world.obs_names)
        self.action_names = list(_regrasp.ACTION_NAMES)
        self.metadata = {"render_modes": [], "render_fps": round(1.0 / self.world.control_dt)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=_seed(seed))
        options = dict(options or {})
        scenario = options.pop("scenario", None)
        if options:
            raise ValueError(f"options: unknown key(s) {sorted(options)}; the only option is 'scenario'")
        obs, sc = self._env.reset(seed=_seed(seed), scenario=None if scenario is None else _scenario(scenario))
        info = {"scenario": sc, "scenario_seed": sc.seed, "state_hash": self._env.state_hash()}
        return _observations(obs, (-1,)), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self._env.step(_action_bytes(action, (ACTION_DIM,)))
        return _observations(obs, (-1,)), float(reward), bool(terminated), bool(truncated), info

    def state_hash(self) -> int:
        """The hash of the current state: bit-exact for the same scenario and actions."""
        return self._env.state_hash()

    @property
    def scenario(self) -> Scenario | None:
        """The current episode's scenario."""
        return self._env.scenario


class GraspVectorEnv(VectorEnv):
    """``num_envs`` grasping envs stepped in parallel in Rust on ``threads`` threads (0 = all
    cores), with Gymnasium's next-step autoreset. Results do not depend on ``threads``."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, threads: int = 0, arm: str = "regrasp-arm5",
                 arm_profile: str | os.PathLike | None = None, config: Any = None, distribution: Any = None,
                 world: World | None = None, render_mode: str | None = None):
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r}: regrasp's env does not render; replay episodes in rerun")
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs: {num_envs!r} is not a positive integer")
        self.world = world if world is not None else make_world(arm, arm_profile, config, distribution)
        self.num_envs = int(num_envs)
        self._env = _regrasp.VecEnv(self.world, self.num_envs, threads)
        self.single_observation_space, self.single_action_space = _spaces(self.world)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.obs_names = list(self.world.obs_names)
        self.action_names = list(_regrasp.ACTION_NAMES)
        self._dim = self.single_observation_space.shape[0]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Resets every env: env i to ``options["scenarios"][i]`` if given, else to the next
        scenario of training stream ``seed + i``."""
        if isinstance(seed, (list, tuple)):
            raise ValueError("seed: give one integer; env i then draws training stream seed + i")
        super().reset(seed=_seed(seed))
        options = dict(options or {})
        scenarios = options.pop("scenarios", None)
        if options:
            raise ValueError(f"options: unknown key(s) {sorted(options)}; the only option is 'scenarios'")
        if scenarios is not None:
            scenarios = [_scenario(s) for s in scenarios]
        obs, chosen = self._env.reset(seed=_seed(seed), scenarios=scenarios)
        infos: dict[str, Any] = {}
        for i, sc in enumerate(chosen):
            infos = self._add_info(infos, {"scenario_seed": sc.seed}, i)
        return _observations(obs, (self.num_envs, self._dim)), infos

    def step(self, actions):
        obs, rewards, terminated, truncated, env_infos = self._env.step(
            _action_bytes(actions, (self.num_envs, ACTION_DIM)))
        infos: dict[str, Any] = {}
        for i, info in enumerate(env_infos):
            if info is not None:
                # Hashes use all 64 bits: as numpy's uint64, not int64.
                info["state_hash"] = np.uint64(info["state_hash"])
                infos = self._add_info(infos, info, i)
        return (
            _observations(obs, (self.num_envs, self._dim)),
            np.asarray(rewards, dtype=np.float64),
            np.asarray(terminated, dtype=np.bool_),
            np.asarray(truncated, dtype=np.bool_),
            infos,
        )

    def state_hashes(self) -> list[int]:
        """Every env's state hash."""
        return self._env.state_hashes()
