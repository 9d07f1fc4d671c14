import json

import numpy as np
import pytest

from worldfm.errors import ConfigError
from worldfm.sim.episode import Episode
from worldfm.sim.objects import (
    FPS,
    CameraParams,
    LightParams,
    ObjectParams,
    ObjectsParams,
    generate,
    sample_params,
    simulate,
)
from worldfm.sim.registry import generate_episode

TOP = 0.4


def scene(*objects: ObjectParams, surface: str = "table") -> ObjectsParams:
    return ObjectsParams(
        surface=surface,
        table=(0.35, 0.25, TOP) if surface == "table" else None,
        table_rgb=(0.5, 0.35, 0.2),
        floor_rgb=(0.5, 0.5, 0.5),
        objects=objects,
        camera=CameraParams(lookat=(0.0, 0.0, TOP), distance=1.2, azimuth=-90.0, elevation=40.0, fovy=45.0),
        light=LightParams(direction=(0.0, 0.0, -1.0), diffuse=0.7, ambient=0.3),
    )


def obj(shape: str, color: str, size: tuple, pos: tuple, motion: str = "rest", **kw) -> ObjectParams:
    defaults = dict(
        rgb=(0.9, 0.1, 0.1),
        mass=0.5,
        friction=(0.6, 0.005, 0.002),
        damping=1.0,
        quat=(1.0, 0.0, 0.0, 0.0),
        linvel=(0.0, 0.0, 0.0),
        angvel=(0.0, 0.0, 0.0),
    )
    return ObjectParams(shape=shape, color=color, size=size, motion=motion, pos=pos, **{**defaults, **kw})


@pytest.fixture(scope="module")
def episode() -> Episode:
    return generate(3, num_frames=12, size=64)


def test_episode_contract(episode: Episode) -> None:
    t, n = 12, len(episode.params["objects"])
    assert episode.frames.shape == (t, 64, 64, 3) and episode.frames.dtype == np.uint8
    assert episode.depth.shape == (t, 64, 64) and episode.depth.dtype == np.float32
    assert episode.segmentation.shape == (t, 64, 64) and episode.segmentation.dtype == np.int32
    assert episode.states["object_pos"].shape == (t, n, 3)
    assert episode.states["object_quat"].shape == (t, n, 4)
    assert episode.states["object_linvel"].shape == episode.states["object_angvel"].shape == (t, n, 3)
    assert episode.states["object_contacts"].shape == (t, n, n + 2)
    assert all(v.dtype == np.float32 for v in episode.states.values())
    assert episode.actions is None and episode.action_names == []
    assert episode.scenario == "objects" and episode.seed == 3 and episode.fps == FPS
    assert episode.caption.endswith(".") and len(episode.caption) > 10
    json.dumps(episode.metadata())  # serialisable, params included


def test_instances_match_segmentation_and_depth(episode: Episode) -> None:
    ids = [inst["id"] for inst in episode.instances]
    assert ids == list(range(1, len(ids) + 1))
    objects = episode.params["objects"]
    for inst, o in zip(episode.instances, objects, strict=False):
        assert inst["category"] == o["shape"] and inst["color"] == o["color"] and inst["mass"] == o["mass"]
    assert (episode.instances[-1]["category"] == "table") == (episode.params["surface"] == "table")
    assert set(np.unique(episode.segmentation)) <= {0, *ids}
    assert (episode.segmentation[0] > 0).any()
    on_objects = episode.depth[episode.segmentation > 0]
    assert np.isfinite(on_objects).all() and (on_objects > 0.1).all() and (on_objects < 5).all()


def test_camera_matches_params(episode: Episode) -> None:
    fovy = np.deg2rad(episode.params["camera"]["fovy"])
    k = episode.camera.intrinsics
    assert k[0, 0] == pytest.approx(32 / np.tan(fovy / 2)) and k[0, 2] == k[1, 2] == 32
    ext = episode.camera.extrinsics
    assert ext.shape == (12, 4, 4) and (ext == ext[0]).all()  # static camera
    cam = episode.params["camera"]
    assert np.linalg.norm(ext[0, :3, 3] - cam["lookat"]) == pytest.approx(cam["distance"], rel=1e-5)
    # The optical axis (+z column) points at the look-at point.
    to_target = np.array(cam["lookat"]) - ext[0, :3, 3]
    np.testing.assert_allclose(ext[0, :3, 2], to_target / np.linalg.norm(to_target), atol=1e-5)


def test_same_seed_same_episode_and_different_seeds_differ() -> None:
    a, b, c = generate(11, 6, 32), generate(11, 6, 32), generate(12, 6, 32)
    for name in ("frames", "depth", "segmentation"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()
    assert all(a.states[k].tobytes() == b.states[k].tobytes() for k in a.states)
    assert a.caption == b.caption and a.params == b.params
    assert a.frames.tobytes() != c.frames.tobytes() and a.params != c.params


@pytest.mark.parametrize(("size", "frames"), [(128, 3), (256, 2)])
def test_larger_sizes(size: int, frames: int) -> None:
    ep = generate_episode("objects", 5, frames, size)
    assert ep.frames.shape == (frames, size, size, 3)
    assert ep.camera.intrinsics[0, 2] == size / 2


def test_sampled_scenes_are_valid_and_things_move() -> None:
    moving = 0
    for seed in range(200):
        params = sample_params(seed)
        assert params == ObjectsParams.from_json(json.loads(json.dumps(params.to_json())))
        assert 1 <= len(params.objects) <= 4 and any(o.motion != "rest" for o in params.objects)
        for o in params.objects:
            assert o.pos[2] > params.surface_z  # starts above the surface, not inside it
            if params.table is not None and o.motion != "throw":
                assert abs(o.pos[0]) < params.table[0] and abs(o.pos[1]) < params.table[1]
        moving += any(np.linalg.norm(o.linvel) > 0.3 or o.motion == "drop" for o in params.objects)
    assert moving == 200
    for seed in range(3):  # and in simulation, something travels within the first second
        pos = generate(seed, 16, 16).states["object_pos"]
        assert np.linalg.norm(pos - pos[0], axis=-1).max() > 0.05


def test_pushed_sphere_rolls_off_the_table_edge() -> None:
    sphere = obj(
        "sphere", "red", (0.05,), (0.15, 0.0, TOP + 0.0505), "push", linvel=(1.0, 0, 0), angvel=(0, 20.0, 0)
    )
    ep = simulate(scene(sphere), num_frames=20, size=32)
    assert ep.caption.startswith("A red sphere rolls off the table")
    assert ep.states["object_pos"][-1, 0, 2] < TOP  # it really is below the table top


def test_box_knocked_over_by_a_sphere() -> None:
    sphere = obj(
        "sphere", "red", (0.05,), (-0.2, 0.0, TOP + 0.0505), "push", linvel=(1.2, 0, 0), angvel=(0, 24, 0)
    )
    box = obj(
        "box", "blue", (0.03, 0.03, 0.1), (0.05, 0.0, TOP + 0.1005), mass=0.05, friction=(0.9, 0.005, 0.002)
    )
    ep = simulate(scene(sphere, box), num_frames=20, size=32)
    assert "knocks over a blue box" in ep.caption
    assert ep.states["object_contacts"][:, 0, 1].any()  # the sphere-box contact was recorded


def test_dropped_object_and_still_object_on_the_floor() -> None:
    ball = obj("sphere", "green", (0.05,), (0.0, 0.0, 0.4), "drop")
    block = obj("box", "white", (0.05, 0.05, 0.05), (0.3, 0.0, 0.0505), mass=1.0)
    ep = simulate(scene(ball, block, surface="floor"), num_frames=12, size=32)
    assert ep.caption.startswith("A green sphere falls onto the floor")
    assert ep.caption.endswith("a white box stays still.")
    assert [i["category"] for i in ep.instances] == ["sphere", "box"]  # no table instance


def test_bad_params_and_arguments_are_refused() -> None:
    ball = obj("sphere", "red", (0.05,), (0.0, 0.0, 0.5))
    with pytest.raises(ConfigError, match="shape must be one of"):
        scene(obj("cone", "red", (0.05,), (0, 0, 0.5)))
    with pytest.raises(ConfigError, match="1 to 4 objects"):
        scene()
    with pytest.raises(ConfigError, match="distinct colour"):
        scene(ball, ball)
    with pytest.raises(ConfigError, match="table dimensions"):
        ObjectsParams(**{**scene(ball).__dict__, "table": None})
    with pytest.raises(ConfigError, match="num_frames"):
        generate(0, num_frames=1)
    with pytest.raises(ConfigError, match="size"):
        generate(0, size=65)
