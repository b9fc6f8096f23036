"""The frozen evaluation suites as scenario lists.

``load("heldout", arm="so101")`` gives the arm's own held-out suite, in order, exactly as
``regrasp eval --suite heldout`` runs it. Suite scenarios lie in seed ranges that training
streams never draw; use them to evaluate, never to train or tune.
"""

from __future__ import annotations

from ._regrasp import Scenario, World, suite_names

from .envs import make_world


def names() -> list[str]:
    """The shipped suites' names."""
    return list(suite_names())


def load(name: str, arm: str = "regrasp-arm5", world: World | None = None, **world_args) -> list[Scenario]:
    """The scenarios of suite ``name`` (a shipped name or a suite TOML file) for ``arm``."""
    w = world if world is not None else make_world(arm=arm, **world_args)
    return list(w.suite(name))
