"""Scenario registry: name -> generator function, imported lazily.

A scenario module exposes `generate(seed: int, num_frames: int = 32, size: int = 64) -> Episode`;
action-driven ones also take `actions=` (a counterfactual replay). The same (seed, num_frames, size)
always gives the identical episode.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Protocol

import numpy as np

from worldfm.errors import ConfigError, UnknownNameError
from worldfm.sim.episode import Episode

# name -> module path. The module's `generate` function produces one Episode.
SCENARIOS: dict[str, str] = {
    "objects": "worldfm.sim.objects",
    "robot": "worldfm.sim.robot",
    "driving": "worldfm.sim.driving",
}

MIN_SIZE, MAX_SIZE = 16, 512


class ScenarioFn(Protocol):
    def __call__(self, seed: int, num_frames: int = 32, size: int = 64, **kwargs: Any) -> Episode: ...


def get_scenario(name: str) -> ScenarioFn:
    """Return the `generate` function of scenario `name`; raises `UnknownNameError` listing known names."""
    if name not in SCENARIOS:
        raise UnknownNameError("scenario", name, list(SCENARIOS))
    return importlib.import_module(SCENARIOS[name]).generate


def episode_seed(base_seed: int, index: int) -> int:
    """Seed of episode `index` in a dataset generated from `base_seed` (independent streams, 32-bit)."""
    return int(np.random.SeedSequence([int(base_seed), int(index)]).generate_state(1)[0])


def check_episode_args(num_frames: int, size: int) -> None:
    """Raise `ConfigError` for frame counts or sizes that no scenario can produce."""
    if num_frames < 2:
        raise ConfigError(f"num_frames must be at least 2, got {num_frames}")
    if not MIN_SIZE <= size <= MAX_SIZE or size % 2:
        raise ConfigError(f"size must be an even number of pixels in [{MIN_SIZE}, {MAX_SIZE}], got {size}")


def check_actions(actions: np.ndarray, num_frames: int, action_dim: int) -> np.ndarray:
    """A float32 copy of `actions` (an episode must not alias the caller's array) after checking its
    shape `(num_frames - 1, action_dim)` and range (finite, within [-1, 1]); `ConfigError` otherwise."""
    out = np.array(actions, np.float32)
    if out.shape != (num_frames - 1, action_dim):
        raise ConfigError(f"actions must have shape {(num_frames - 1, action_dim)}, got {out.shape}")
    if not np.isfinite(out).all() or np.abs(out).max(initial=0.0) > 1.0:
        raise ConfigError("actions must be finite and within [-1, 1]")
    return out


def scenario_options(scenario: str) -> list[str]:
    """The keyword-only options of `scenario`'s `generate` (e.g. driving: view, manoeuvre, actions)."""
    params = inspect.signature(get_scenario(scenario)).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def takes_actions(scenario: str) -> bool:
    """Whether `scenario`'s episodes can be replayed under given actions (its `generate` has `actions=`)."""
    return "actions" in scenario_options(scenario)


def generate_episode(
    scenario: str,
    seed: int,
    num_frames: int = 32,
    size: int = 64,
    actions: np.ndarray | None = None,
    **options: Any,
) -> Episode:
    """Simulate one episode of `scenario` (frames of `size` x `size` pixels).

    actions: optional (num_frames - 1, action_dim) array in [-1, 1] that drives the agent instead of
    its scripted policy (a counterfactual replay of the same scene); `ConfigError` for a scenario
    without actions. options: the scenario's own keyword options (`scenario_options`, e.g. driving's
    `view` and `manoeuvre`); `ConfigError` naming the known ones for any other.
    """
    check_episode_args(num_frames, size)
    fn = get_scenario(scenario)
    known = scenario_options(scenario)
    if actions is not None:
        if "actions" not in known:
            raise ConfigError(
                f"the {scenario} scenario has no actions to replace: only its seed sets an episode"
            )
        options["actions"] = actions
    for name in options:
        if name not in known:
            takes = ", ".join(k for k in known if k != "actions") or "none"
            raise ConfigError(f"the {scenario} scenario has no option {name!r} (its options: {takes})")
    return fn(seed=seed, num_frames=num_frames, size=size, **options)
