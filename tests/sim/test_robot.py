import json
import math
from dataclasses import replace

import numpy as np
import pytest

from worldfm.errors import ConfigError
from worldfm.sim.episode import Episode
from worldfm.sim.objects import CameraParams, LightParams, ObjectParams, ObjectsParams
from worldfm.sim.registry import generate_episode
from worldfm.sim.robot import ACTION_NAMES, RobotParams, generate, sample_params, simulate
from worldfm.sim.robot_policy import MAX_SPEED, PolicyParams, policy_actions
from worldfm.sim.robot_scene import (
    FPS,
    SUBSTEPS,
    TIMESTEP,
    ArmParams,
    forward_kinematics,
    inverse_kinematics,
)

TOP = 0.45
BASE = (-0.3, 0.0, TOP)


@pytest.fixture(scope="module")
def episode() -> Episode:
    return generate(7, num_frames=12, size=32)


def box_scene(*objects: ObjectParams, azimuth: float = 0.0) -> ObjectsParams:
    """A table with the arm's base at BASE and a camera in front of the arm (azimuth 0: on +x)."""
    return ObjectsParams(
        surface="table",
        table=(0.4, 0.35, TOP),
        table_rgb=(0.5, 0.35, 0.2),
        floor_rgb=(0.5, 0.5, 0.5),
        objects=objects,
        camera=CameraParams(
            lookat=(-0.05, 0.0, TOP + 0.1), distance=1.2, azimuth=azimuth, elevation=40, fovy=45
        ),
        light=LightParams(direction=(0.0, 0.0, -1.0), diffuse=0.7, ambient=0.3),
        timestep=TIMESTEP,
        substeps=SUBSTEPS,
        fps=FPS,
    )


def red_box(x: float, y: float, shape: str = "box", color: str = "red") -> ObjectParams:
    """A 6 cm box (or a sphere of radius 3 cm) resting on the table at (x, y)."""
    return ObjectParams(
        shape=shape, color=color, rgb=(0.85, 0.1, 0.1), size=(0.03, 0.03, 0.03)[: 3 if shape == "box" else 1],
        mass=0.3, friction=(0.5, 0.005, 0.002), damping=1.0, motion="rest", pos=(x, y, TOP + 0.031),
        quat=(1.0, 0.0, 0.0, 0.0), linvel=(0.0, 0.0, 0.0), angvel=(0.0, 0.0, 0.0),
    )  # fmt: skip


def arm_at(home: tuple[float, float, float]) -> ArmParams:
    q0 = inverse_kinematics(BASE, np.array(home))
    return ArmParams(base=BASE, color="grey", rgb=(0.55, 0.56, 0.58), q0=tuple(float(q) for q in q0))


def scripted(kind: str, waypoints: list[tuple[float, float, float]], speeds: list[float]) -> PolicyParams:
    """A noise-free policy through `waypoints` that goes for object 0."""
    return PolicyParams(
        kind=kind, target=0, intent="touch", waypoints=tuple(waypoints), speeds=tuple(speeds),
        holds=(0.0,) * len(waypoints), noise=0.0, ou_theta=0.0, ou_sigma=0.0, noise_seed=0,
    )  # fmt: skip


def test_episode_contract(episode: Episode) -> None:
    t, n = 12, len(episode.params["scene"]["objects"])
    assert episode.frames.shape == (t, 32, 32, 3) and episode.frames.dtype == np.uint8
    assert episode.depth.shape == (t, 32, 32) and episode.depth.dtype == np.float32
    assert episode.segmentation.shape == (t, 32, 32) and episode.segmentation.dtype == np.int32
    shapes = {
        "joint_pos": (t, 4), "joint_vel": (t, 4), "joint_target": (t, 4), "ee_pos": (t, 3),
        "object_pos": (t, n, 3), "object_quat": (t, n, 4), "object_linvel": (t, n, 3),
        "object_angvel": (t, n, 3), "object_contacts": (t, n, n + 2), "arm_contacts": (t, n),
    }  # fmt: skip
    assert {k: v.shape for k, v in episode.states.items()} == shapes
    assert all(v.dtype == np.float32 for v in episode.states.values())
    assert episode.actions is not None and episode.actions.shape == (t - 1, 4)
    assert episode.actions.dtype == np.float32 and np.abs(episode.actions).max() <= 1.0
    assert episode.action_names == ACTION_NAMES and len(ACTION_NAMES) == 4
    assert episode.scenario == "robot" and episode.seed == 7 and episode.fps == FPS
    assert episode.params["action_scale"] == list(MAX_SPEED)
    assert episode.caption.startswith("The ") and episode.caption.endswith(".")
    json.dumps(episode.metadata())


def test_camera_is_static_opencv_pinhole(episode: Episode) -> None:
    k, ext = episode.camera.intrinsics, episode.camera.extrinsics
    fovy = math.radians(episode.params["scene"]["camera"]["fovy"])
    assert k[0, 0] == pytest.approx(16 / math.tan(fovy / 2)) and k[0, 2] == k[1, 2] == 16
    assert ext.shape == (12, 4, 4) and (ext == ext[0]).all()
    # The end-effector projects inside the image in every frame (the arm is in view).
    for p in episode.states["ee_pos"].astype(np.float64):
        cam = np.linalg.inv(ext[0]) @ np.append(p, 1.0)
        u, v = (k @ cam[:3])[:2] / cam[2]
        assert cam[2] > 0 and 0 <= u < 32 and 0 <= v < 32


def test_segmentation_holds_arm_objects_and_table(episode: Episode) -> None:
    n = len(episode.params["scene"]["objects"])
    inst = episode.instances
    assert [i["id"] for i in inst] == list(range(1, n + 3))
    assert [i["category"] for i in inst[n:]] == ["robot_arm", "table"] and inst[n]["name"] == "arm"
    assert all(i["color"] for i in inst)
    seg = episode.segmentation
    assert set(np.unique(seg)) <= set(range(n + 3))
    assert all((seg[t] == n + 1).any() for t in range(len(seg)))  # the arm is in every frame
    for i in range(1, n + 1):
        assert (seg == i).any(), f"object {i} never visible"
    on_arm = episode.depth[seg == n + 1]
    assert np.isfinite(on_arm).all() and (on_arm > 0.3).all() and (on_arm < 3).all()


def test_end_effector_state_matches_kinematics(episode: Episode) -> None:
    q = episode.states["joint_pos"].astype(np.float64)
    base = tuple(episode.params["arm"]["base"])
    fk = np.stack([forward_kinematics(base, qt) for qt in q])
    np.testing.assert_allclose(episode.states["ee_pos"], fk, atol=1e-4)
    # The servos track their targets (lag below 0.25 rad at full speed).
    assert np.abs(episode.states["joint_pos"] - episode.states["joint_target"]).max() < 0.25


def test_same_seed_same_episode_different_seed_differs() -> None:
    a, b, c = generate(21, 5, 32), generate(21, 5, 32), generate(22, 5, 32)
    for name in ("frames", "depth", "segmentation", "actions"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()
    assert all(a.states[k].tobytes() == b.states[k].tobytes() for k in a.states)
    assert a.caption == b.caption and a.params == b.params
    assert a.frames.tobytes() != c.frames.tobytes() and a.actions.tobytes() != c.actions.tobytes()


def test_params_round_trip_and_recorded_actions_replay(episode: Episode) -> None:
    params = RobotParams.from_json(json.loads(json.dumps(episode.params)))
    assert params == sample_params(7)
    replay = simulate(params, 12, 32, seed=7, actions=episode.actions)
    assert replay.frames.tobytes() == episode.frames.tobytes()
    assert replay.states["object_pos"].tobytes() == episode.states["object_pos"].tobytes()


def test_actions_cover_the_action_space() -> None:
    # Actions depend on the parameters only (the policy plans on servo targets), so no rendering here.
    actions = np.concatenate(
        [policy_actions(p.policy, p.arm, FPS, 32) for p in map(sample_params, range(20))]
    )
    assert actions.dtype == np.float32 and np.abs(actions).max() <= 1.0
    assert (actions.min(axis=0) < -0.9).all() and (actions.max(axis=0) > 0.9).all()
    assert (actions.std(axis=0) > 0.25).all()
    kinds = {sample_params(s).policy.kind for s in range(20)}
    assert kinds == {"reach", "push", "explore"}


@pytest.mark.parametrize(("joint", "sign"), [(0, 1.0), (0, -1.0), (1, 1.0), (2, -1.0), (3, 1.0)])
def test_arm_moves_in_the_commanded_direction(joint: int, sign: float) -> None:
    params = RobotParams(
        scene=box_scene(red_box(0.2, 0.25)),
        arm=arm_at((-0.05, 0.0, TOP + 0.25)),
        policy=scripted("reach", [(-0.05, 0.0, TOP + 0.25)], [0.3]),
    )
    actions = np.zeros((6, 4), np.float32)
    actions[:3, joint] = sign  # three frames at full speed, then three to settle
    ep = simulate(params, 7, 16, actions=actions)
    target = ep.states["joint_target"].astype(np.float64)
    np.testing.assert_allclose(np.diff(target[:4, joint]), sign * MAX_SPEED[joint] / FPS, rtol=1e-5)
    assert (target[:, np.arange(4) != joint] == target[0, np.arange(4) != joint]).all()
    # The end-effector goes where the kinematics of the commanded joint move take it.
    expected = forward_kinematics(BASE, target[-1]) - forward_kinematics(BASE, target[0])
    moved = ep.states["ee_pos"][-1].astype(np.float64) - ep.states["ee_pos"][0]
    assert np.linalg.norm(expected) > 0.05
    assert moved @ expected / (np.linalg.norm(moved) * np.linalg.norm(expected)) > 0.98
    assert np.linalg.norm(moved) == pytest.approx(np.linalg.norm(expected), rel=0.15)
    if joint == 0:  # positive yaw turns the arm counter-clockwise seen from above
        rel = ep.states["ee_pos"][:, :2].astype(np.float64) - np.array(BASE[:2])
        turn = math.atan2(rel[-1, 1], rel[-1, 0]) - math.atan2(rel[0, 1], rel[0, 0])
        assert np.sign(turn) == sign and abs(turn) > 0.5


def test_caption_reports_a_push_with_distance_and_direction() -> None:
    # Push the box along +y, which the camera in front of the arm (on +x) sees as "to the right".
    low, start = TOP + 0.01, (0.0, -0.18)
    params = RobotParams(
        scene=box_scene(red_box(0.0, -0.08)),
        arm=arm_at((-0.1, -0.1, TOP + 0.2)),
        policy=scripted("push", [(*start, TOP + 0.15), (*start, low), (0.0, -0.03, low)], [0.5, 0.3, 0.2]),
    )
    ep = simulate(params, 24, 32)
    moved = ep.states["object_pos"][-1, 0] - ep.states["object_pos"][0, 0]
    assert moved[1] > 0.08 and abs(moved[0]) < 0.04 and ep.states["arm_contacts"][:, 0].any()
    cm = round(float(np.linalg.norm(moved[:2])) * 100)
    assert ep.caption == f"The grey arm reaches toward the red box and pushes it {cm} cm to the right."
    # Seen from the opposite side, the same push goes to the left.
    behind = replace(params.scene, camera=replace(params.scene.camera, azimuth=180.0))
    mirrored = simulate(replace(params, scene=behind), 24, 16)
    assert mirrored.caption.endswith("to the left.")


def test_caption_reports_a_miss_and_a_still_object() -> None:
    # Reach down beside the box, 12 cm off to its side: no contact; a blue sphere far off stays put.
    params = RobotParams(
        scene=box_scene(red_box(0.0, -0.08), red_box(0.05, 0.25, "sphere", "blue")),
        arm=arm_at((-0.1, 0.1, TOP + 0.2)),
        policy=scripted("reach", [(-0.06, 0.06, TOP + 0.06), (-0.06, 0.04, TOP + 0.015)], [0.4, 0.2]),
    )
    ep = simulate(params, 16, 16)
    assert not ep.states["arm_contacts"].any()
    assert ep.caption == "The grey arm reaches for the red box but misses it; the blue sphere stays still."


def test_larger_sizes() -> None:
    for size, frames in ((64, 3), (128, 2)):
        ep = generate_episode("robot", 3, frames, size)
        assert ep.frames.shape == (frames, size, size, 3) and ep.camera.intrinsics[0, 2] == size / 2


def test_bad_inputs_are_refused() -> None:
    params = sample_params(0)
    with pytest.raises(ConfigError, match="actions must have shape"):
        simulate(params, 4, 16, actions=np.zeros((4, 4)))
    with pytest.raises(ConfigError, match="within"):
        simulate(params, 4, 16, actions=np.full((3, 4), 1.5))
    with pytest.raises(ConfigError, match="policy kind"):
        PolicyParams(**{**params.policy.to_json(), "kind": "dance"})
    with pytest.raises(ConfigError, match="q0 of joint 'elbow'"):
        ArmParams(base=BASE, color="grey", rgb=(0.5, 0.5, 0.5), q0=(0.0, 0.0, -1.0, 0.0))
    with pytest.raises(ConfigError, match="size"):
        generate(0, size=33)
