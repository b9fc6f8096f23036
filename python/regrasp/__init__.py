"""regrasp's grasping simulator for Python.

The same Rust ``GraspEnv``, frozen suites, outcome classifier, exact replay and policy inference
as the ``regrasp`` command line, behind Gymnasium 1.x's API::

    import gymnasium as gym
    import regrasp  # registers regrasp/Grasp-v0

    env = gym.make("regrasp/Grasp-v0", arm="so101")
    obs, info = env.reset(seed=0)

Seeds: ``reset(seed=s)`` starts the training-scenario stream ``s``; scenarios of the frozen
suites (``regrasp.suites.load("heldout")``) are never drawn by it and are run only by name
(``options={"scenario": ...}``), so a learner in Python cannot train on what judges it.
"""

import gymnasium

from ._regrasp import (
    ACTION_NAMES,
    OUTCOMES,
    Episode,
    Policy,
    ReplayDivergence,
    Scenario,
    World,
    arm_names,
    read_episodes,
    suite_names,
)
from . import suites
from .envs import GraspEnv, GraspVectorEnv, make_world
from .evaluation import evaluate_checkpoint, evaluate_onnx

__all__ = [
    "ACTION_NAMES",
    "OUTCOMES",
    "Episode",
    "GraspEnv",
    "GraspVectorEnv",
    "Policy",
    "ReplayDivergence",
    "Scenario",
    "World",
    "arm_names",
    "evaluate_checkpoint",
    "evaluate_onnx",
    "make_world",
    "read_episodes",
    "suite_names",
    "suites",
]

if "regrasp/Grasp-v0" not in gymnasium.registry:
    # No TimeLimit wrapper: the env truncates itself at the config's step budget (a timeout is
    # an outcome the classifier decides, with its evidence).
    gymnasium.register(
        id="regrasp/Grasp-v0",
        entry_point="regrasp.envs:GraspEnv",
        vector_entry_point="regrasp.envs:GraspVectorEnv",
        max_episode_steps=None,
    )
