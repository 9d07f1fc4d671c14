import numpy as np
import pytest

from worldfm.errors import ConfigError, UnknownNameError
from worldfm.sim.registry import (
    SCENARIOS,
    check_episode_args,
    episode_seed,
    generate_episode,
    get_scenario,
    scenario_options,
    takes_actions,
)


def test_unknown_scenario_lists_known_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown scenario 'lava'.*driving, objects, robot"):
        get_scenario("lava")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_module_exposes_generate(name: str) -> None:
    assert callable(get_scenario(name))


def test_episode_seeds_are_deterministic_and_distinct() -> None:
    seeds = [episode_seed(0, i) for i in range(1000)]
    assert seeds == [episode_seed(0, i) for i in range(1000)]
    assert len(set(seeds)) == 1000
    assert episode_seed(1, 0) != episode_seed(0, 0)
    assert all(0 <= s < 2**32 for s in seeds)


@pytest.mark.parametrize(
    ("frames", "size", "message"), [(1, 64, "num_frames"), (8, 63, "size"), (8, 8, "size")]
)
def test_bad_episode_args_are_refused(frames: int, size: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_episode_args(frames, size)
    with pytest.raises(ConfigError, match=message):
        generate_episode("objects", 0, frames, size)


def test_generate_episode_replays_given_actions() -> None:
    assert [takes_actions(s) for s in ("objects", "robot", "driving")] == [False, True, True]
    ep = generate_episode("robot", 11, num_frames=6, size=16)
    replay = generate_episode("robot", 11, num_frames=6, size=16, actions=ep.actions)
    np.testing.assert_array_equal(replay.frames, ep.frames)
    with pytest.raises(ConfigError, match="the objects scenario has no actions"):
        generate_episode("objects", 11, num_frames=6, size=16, actions=np.zeros((5, 4)))


def test_generate_episode_passes_scenario_options_and_refuses_others() -> None:
    assert scenario_options("driving") == ["view", "manoeuvre", "actions"]
    assert scenario_options("robot") == ["actions"] and scenario_options("objects") == []
    dash = generate_episode("driving", 3, num_frames=2, size=16, view="dash", manoeuvre="brake")
    assert dash.params["view"] == "dash" and dash.params["manoeuvre"] == "brake"
    with pytest.raises(ConfigError, match=r"the robot scenario has no option 'view' \(its options: none\)"):
        generate_episode("robot", 3, num_frames=2, size=16, view="dash")
