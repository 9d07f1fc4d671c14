import json

import numpy as np
import pytest

from worldfm.errors import ConfigError
from worldfm.sim.episode import Camera, Episode


def make_episode(t: int = 4, h: int = 8, w: int = 10, actions: bool = True) -> Episode:
    rng = np.random.default_rng(0)
    return Episode(
        frames=rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8),
        depth=rng.random((t, h, w), dtype=np.float32),
        segmentation=rng.integers(0, 3, (t, h, w)).astype(np.int32),
        states={"pos": rng.random((t, 2, 3)).astype(np.float32)},
        actions=rng.random((t - 1, 2)).astype(np.float32) if actions else None,
        action_names=["a", "b"] if actions else [],
        camera=Camera(np.eye(3), np.tile(np.eye(4), (t, 1, 1))),
        caption="a red sphere rolls",
        instances=[{"id": 1, "name": "sphere_0", "category": "sphere"}],
        scenario="objects",
        seed=7,
        params={"gravity": np.float64(-9.81), "sizes": np.array([0.1, 0.2])},
        fps=12.0,
    )


def test_metadata_is_json_and_round_trips() -> None:
    ep = make_episode()
    meta = json.loads(json.dumps(ep.metadata()))
    back = Episode.from_parts(ep.frames, ep.depth, ep.segmentation, meta)
    assert back.caption == ep.caption and back.seed == 7 and back.fps == 12.0
    np.testing.assert_array_equal(back.actions, ep.actions)
    np.testing.assert_array_equal(back.states["pos"], ep.states["pos"])
    np.testing.assert_array_equal(back.camera.extrinsics, ep.camera.extrinsics)
    assert back.params == {"gravity": -9.81, "sizes": [0.1, 0.2]}


def test_episode_without_actions_round_trips() -> None:
    ep = make_episode(actions=False)
    back = Episode.from_parts(ep.frames, ep.depth, ep.segmentation, json.loads(json.dumps(ep.metadata())))
    assert back.actions is None and back.action_names == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("frames", np.zeros((4, 8, 10, 3), np.float32), "uint8"),
        ("depth", np.zeros((4, 8, 9), np.float32), "depth"),
        ("segmentation", np.zeros((3, 8, 10), np.int32), "segmentation"),
        ("actions", np.zeros((4, 2), np.float32), "actions"),
        ("action_names", ["a"], "action names"),
        ("states", {"pos": np.zeros((5, 3))}, "state 'pos'"),
        ("fps", 0.0, "fps"),
    ],
)
def test_validation_names_the_bad_field(field: str, value: object, message: str) -> None:
    ep = make_episode()
    setattr(ep, field, value)
    with pytest.raises(ConfigError, match=message):
        ep.validate()


def test_camera_shapes_are_checked() -> None:
    with pytest.raises(ConfigError, match="intrinsics"):
        Camera(np.eye(4), np.zeros((1, 4, 4)))
    with pytest.raises(ConfigError, match="extrinsics"):
        Camera(np.eye(3), np.zeros((4, 4)))
