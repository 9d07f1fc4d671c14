"""Tests of the `driving` scenario: contract, determinism, sizes, camera geometry, segmentation,
action coverage, manoeuvres and captions, and the fast highway-env road against the library's own."""

from __future__ import annotations

import itertools
import json

import mujoco
import numpy as np
import pytest
from highway_env.road.road import Road, RoadNetwork

from worldfm.errors import ConfigError
from worldfm.sim.driving import ACTION_NAMES, FPS, generate, simulate
from worldfm.sim.driving_caption import caption, speed_pivots, summarize
from worldfm.sim.driving_plan import MANOEUVRES, sample_setup
from worldfm.sim.driving_scene import FAR_PLANE, CameraRig, SceneStyle, build_scene
from worldfm.sim.driving_traffic import Traffic, VehicleSpec
from worldfm.sim.episode import Episode
from worldfm.sim.mujoco_render import SceneRenderer
from worldfm.sim.registry import generate_episode


def setup_rngs(seed: int) -> list[np.random.Generator]:
    """The four generator streams `generate` draws from (plan, traffic, driver, scene)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]


@pytest.fixture(scope="module")
def episode() -> Episode:
    # Four lanes, ego in the rightmost; it pulls out, overtakes a slow blue truck and moves back.
    return generate(seed=7, num_frames=32, size=64, manoeuvre="overtake")


def test_contract_shapes_and_dtypes(episode: Episode) -> None:
    t, n = 32, len(episode.instances) - 2  # instances: ego, n traffic vehicles, road
    assert episode.frames.shape == (t, 64, 64, 3) and episode.frames.dtype == np.uint8
    assert episode.depth.shape == (t, 64, 64) and episode.depth.dtype == np.float32
    assert episode.segmentation.shape == (t, 64, 64) and episode.segmentation.dtype == np.int32
    assert episode.actions is not None and episode.actions.shape == (t - 1, 2)
    assert episode.actions.dtype == np.float32
    assert episode.action_names == ACTION_NAMES == ["acceleration", "steering"]
    shapes = {k: v.shape for k, v in episode.states.items()}
    assert shapes == {
        "ego_pose": (t, 3),
        "ego_speed": (t,),
        "ego_lane": (t,),
        "ego_crashed": (t,),
        "vehicle_poses": (t, n, 3),
        "vehicle_speeds": (t, n),
        "vehicle_lanes": (t, n),
    }
    assert all(v.dtype == np.float32 for v in episode.states.values())
    assert episode.camera.intrinsics.shape == (3, 3) and episode.camera.extrinsics.shape == (t, 4, 4)
    assert episode.scenario == "driving" and episode.seed == 7 and episode.fps == FPS
    assert episode.params["view"] == "chase" and episode.params["manoeuvre"] == "overtake"
    assert not episode.states["ego_crashed"].any()


def test_metadata_round_trip(episode: Episode) -> None:
    meta = json.loads(json.dumps(episode.metadata()))
    back = Episode.from_parts(episode.frames, episode.depth, episode.segmentation, meta)
    assert back.caption == episode.caption and back.params == episode.params
    assert back.instances == episode.instances
    np.testing.assert_allclose(back.states["vehicle_poses"], episode.states["vehicle_poses"])
    np.testing.assert_allclose(back.actions, episode.actions)


def test_same_seed_same_episode_and_other_seed_differs() -> None:
    a = generate(seed=5, num_frames=6, size=32)
    c = generate(seed=6, num_frames=6, size=32)  # in between: no state may leak from one to the next
    b = generate(seed=5, num_frames=6, size=32)
    for name in ("frames", "depth", "segmentation", "actions"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for key in a.states:
        np.testing.assert_array_equal(a.states[key], b.states[key])
    np.testing.assert_array_equal(a.camera.extrinsics, b.camera.extrinsics)
    assert a.caption == b.caption and a.params == b.params and a.instances == b.instances
    assert not np.array_equal(a.frames, c.frames)
    assert not np.array_equal(a.states["ego_pose"], c.states["ego_pose"])


@pytest.mark.parametrize("size", [128, 256])
def test_larger_sizes(size: int) -> None:
    ep = generate(seed=1, num_frames=3, size=size)
    assert ep.frames.shape == (3, size, size, 3) and ep.depth.shape == (3, size, size)
    assert ep.camera.intrinsics[0, 2] == size / 2
    assert (ep.segmentation == 1).mean() > 0.02  # the ego, seen from the chase camera
    small = generate(seed=1, num_frames=3, size=32)
    np.testing.assert_array_equal(small.states["ego_pose"], ep.states["ego_pose"])  # same traffic
    assert small.caption == ep.caption


def test_segmentation_instances_and_depth(episode: Episode) -> None:
    ids = [inst["id"] for inst in episode.instances]
    assert ids == list(range(1, len(ids) + 1))
    assert episode.instances[0]["name"] == "ego" and episode.instances[0]["ego"] is True
    road = episode.instances[-1]
    assert road["category"] == "road" and road["lanes"] == episode.params["lanes"]
    assert {inst["category"] for inst in episode.instances[:-1]} <= {"car", "truck"}
    seg = episode.segmentation
    assert seg.min() >= 0 and seg.max() <= len(ids)
    for t in range(episode.num_frames):
        assert (seg[t] == 1).mean() > 0.02  # the ego fills part of every chase view
        assert (seg[t] == road["id"]).mean() > 0.2  # the road fills the lower part
        assert (seg[t] == 0).any()  # sky and roadside are background
    traffic_seen = np.unique(seg[(seg > 1) & (seg < road["id"])])
    assert len(traffic_seen) >= 2  # at least the truck and one more vehicle at some point
    # Sky reads the far plane and is background; vehicles are near; road depth grows upwards.
    sky = episode.depth == FAR_PLANE
    assert sky[:, 0].mean() > 0.9 and (seg[sky] == 0).all()
    assert np.median(episode.depth[seg == 1]) < 15.0
    road_depth = np.where(seg[0] == road["id"], episode.depth[0], np.nan)
    rows = np.nanmedian(road_depth[32:], axis=1)
    assert np.all(np.diff(rows[np.isfinite(rows)]) < 0)  # farther up the image, farther away


def test_sky_renders_its_colours(episode: Episode) -> None:
    style = episode.params["style"]
    top = episode.frames[:, 0].reshape(-1, 3).astype(float) / 255  # top rows: the zenith band
    np.testing.assert_allclose(np.median(top, axis=0), style["sky_top"], atol=3 / 255)


def test_camera_projection_lands_on_the_ego(episode: Episode) -> None:
    """Project the ego's rear (world pose + K + extrinsics) and find it in the mask and depth."""
    k = episode.camera.intrinsics
    length = episode.instances[0]["length"]
    for t in (0, 15, 31):
        x, y, heading = episode.states["ego_pose"][t].astype(np.float64)
        rear = np.array([x - 0.5 * length * np.cos(heading), y - 0.5 * length * np.sin(heading), 0.7, 1.0])
        cam = np.linalg.inv(episode.camera.extrinsics[t]) @ rear
        u, v, _ = k @ (cam[:3] / cam[2])
        row, col = int(v), int(u)
        assert episode.segmentation[t, row, col] == 1
        assert abs(episode.depth[t, row, col] - cam[2]) < 0.3


def test_camera_follows_the_ego(episode: Episode) -> None:
    x = episode.states["ego_pose"][:, 0]
    speed = episode.states["ego_speed"]
    assert x[0] == 0.0 and np.all(np.diff(x) > 0)
    np.testing.assert_allclose(np.diff(x), 0.5 * (speed[1:] + speed[:-1]) / FPS, rtol=0.05)
    ext = episode.camera.extrinsics
    np.testing.assert_allclose(
        ext[:, :3, :3] @ ext[:, :3, :3].transpose(0, 2, 1), np.eye(3)[None].repeat(32, 0), atol=1e-9
    )
    # Rigidly mounted: the camera's offset in the ego's frame and its viewing direction relative
    # to the ego's heading stay the same while the ego changes lanes.
    pose = episode.states["ego_pose"].astype(np.float64)
    c, s = np.cos(pose[:, 2]), np.sin(pose[:, 2])
    d = ext[:, :2, 3] - pose[:, :2]
    local = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], axis=1)
    np.testing.assert_allclose(local, local[:1].repeat(32, 0), atol=1e-4)
    assert local[0, 0] == pytest.approx(episode.params["camera"]["offset"], abs=1e-4)
    forward = ext[:, :3, 2]  # OpenCV +z
    assert np.all(forward[:, 2] < 0)  # pitched down at the road
    yaw = np.arctan2(forward[:, 1], forward[:, 0])
    np.testing.assert_allclose(yaw, pose[:, 2], atol=1e-4)
    assert np.ptp(pose[:, 1]) > 3.0  # it did move sideways (lane change), so this was tested


def test_actions_range_and_coverage() -> None:
    """A handful of episodes, one per manoeuvre, spread over both action axes (simulation only)."""
    actions = []
    for k, manoeuvre in enumerate(MANOEUVRES):
        plan_rng, traffic_rng, driver_rng, _ = setup_rngs(k)
        setup = sample_setup(plan_rng, 32 / FPS, manoeuvre)
        actions.append(simulate(setup, traffic_rng, driver_rng, 32)[3])
    a = np.concatenate(actions)
    assert a.dtype == np.float32 and a.shape == (6 * 31, 2)
    assert a.min() >= -1.0 and a.max() <= 1.0
    accel, steer = a[:, 0], a[:, 1]
    assert accel.min() < -0.6 and accel.max() > 0.4  # hard braking and firm acceleration
    assert steer.min() < -0.4 and steer.max() > 0.4  # lane changes both ways steer noticeably
    assert a.std(axis=0).min() > 0.1
    hist, _, _ = np.histogram2d(accel, steer, bins=4, range=[[-1, 1], [-1, 1]])
    assert (hist > 0).sum() >= 9  # of 16 cells


def test_generate_lane_change_caption() -> None:
    ep = generate(seed=3, num_frames=32, size=32, manoeuvre="lane_change_left")
    lanes = ep.states["ego_lane"]
    assert ep.params["lanes"] == 3 and lanes[0] == 1 and lanes[-1] == 0
    assert ep.states["ego_pose"][-1, 1] == pytest.approx(0.0, abs=1.0)  # centred in the left lane
    assert ep.caption.startswith("Chase-camera view of a black car in the middle lane of a three-lane")
    assert "The black car changes to the left lane" in ep.caption
    assert ep.actions is not None and ep.actions[:15, 1].max() > 0.2  # steered left


def test_generate_overtake_caption(episode: Episode) -> None:
    poses, ego = episode.states["vehicle_poses"], episode.states["ego_pose"]
    rel = poses[:, :, 0] - ego[:, None, 0]  # (T, N) longitudinal offsets, + ahead
    in_lane_ahead = (np.abs(poses[0, :, 1] - ego[0, 1]) < 1.0) & (rel[0] > 0)
    j = int(np.flatnonzero(in_lane_ahead)[np.argmin(rel[0][in_lane_ahead])])
    truck = episode.instances[j + 1]
    assert truck["category"] == "truck" and rel[-1, j] < 0  # it was passed
    lanes = episode.states["ego_lane"]
    assert lanes.min() == lanes[0] - 1 and lanes[-1] == lanes[0]  # out to the left and back
    assert f"overtakes a slower {truck['color']} truck on the left" in episode.caption
    assert "changes to the second lane from the right, then overtakes" in episode.caption
    assert "changes to the rightmost lane" in episode.caption


@pytest.mark.parametrize(
    ("seed", "expect"),
    [
        (1, "The blue car brakes hard behind a slower white car in its lane, dropping from 95 to 35 km/h."),
        (0, "The white car stays in its lane, braking hard from 100 to 30 km/h."),
    ],
)
def test_generate_brake_captions(seed: int, expect: str) -> None:
    ep = generate(seed=seed, num_frames=32, size=16, manoeuvre="brake")
    speed = ep.states["ego_speed"]
    assert speed[-1] < speed[0] - 10.0 and ep.actions is not None and ep.actions[:, 0].min() < -0.5
    assert expect in ep.caption


def test_summarize_synthetic_pass_and_lane_change() -> None:
    """The ego (30 m/s) changes one lane to the left and passes a 20 m/s truck in its old lane."""
    t = np.arange(20) / FPS
    ego = np.zeros((20, 5))
    ego[:, 0], ego[:, 3] = 30.0 * t, 30.0
    ego[:, 1] = -4.0 + 4.0 * np.clip(t / 1.0, 0.0, 1.0)
    ego[:, 4] = np.where(ego[:, 1] > -2.0, 0, 1)
    truck = np.zeros((20, 1, 5))
    truck[:, 0, 0], truck[:, 0, 1], truck[:, 0, 3], truck[:, 0, 4] = 15.0 + 20.0 * t, -4.0, 20.0, 1
    specs = [VehicleSpec("car", "white", 4.6, 1.9), VehicleSpec("truck", "red", 10.0, 2.5)]
    s = summarize(ego, truck, specs, lanes=2, fps=FPS, crashed=np.zeros(20, bool))
    assert [(a, b) for _, a, b in s.lane_changes] == [(1, 0)]
    assert len(s.passed) == 1 and s.passed[0][1:] == (0, "right", True)
    assert s.speed_phases == []
    text = caption(s, specs, lanes=2, start_lane=1, view="chase")
    assert text.startswith("Chase-camera view of a white car in the right lane of a two-lane highway")
    assert "changes to the left lane and overtakes a slower red truck on the left" in text
    assert "keeping a steady speed of about 110 km/h" in text


def test_caption_when_overtaken_and_without_traffic() -> None:
    t = np.arange(15) / FPS
    ego = np.zeros((15, 5))
    ego[:, 0], ego[:, 3] = 20.0 * t - 0.5 * 4.0 * t**2, 20.0 - 4.0 * t  # brakes at 4 m/s^2 in lane 0
    fast = np.zeros((15, 3, 5))
    for j in range(3):  # three vehicles in the right lane, 30 m/s, starting behind the ego
        fast[:, j, 0], fast[:, j, 1], fast[:, j, 3], fast[:, j, 4] = -10.0 - 8.0 * j + 30.0 * t, -4.0, 30.0, 1
    specs = [VehicleSpec("car", "silver", 4.6, 1.9), VehicleSpec("car", "orange", 4.6, 1.9)]
    specs += [VehicleSpec("truck", "black", 10.0, 2.5), VehicleSpec("truck", "black", 11.0, 2.5)]
    s = summarize(ego, fast, specs, lanes=2, fps=FPS, crashed=np.zeros(15, bool))
    assert [p[1:] for p in s.passed_by] == [(0, "right"), (1, "right"), (2, "right")]
    text = caption(s, specs, lanes=2, start_lane=0, view="dash")
    assert text.startswith("Dash-camera view from a silver car in the left lane of a two-lane highway")
    assert "stays in its lane, braking hard from 70 to 30 km/h" in text
    assert "An orange car and two black trucks overtake it on the right." in text

    alone = summarize(ego, np.zeros((15, 0, 5)), specs[:1], lanes=2, fps=FPS, crashed=np.zeros(15, bool))
    assert "with no other traffic nearby" in caption(alone, specs[:1], lanes=2, start_lane=0, view="chase")


def test_caption_braking_behind_a_slower_vehicle_then_speeding_up() -> None:
    """25 m/s behind a 10 m/s car: brake at 5 m/s^2 to 10 m/s, then the car turns off and the ego
    speeds up again at 2 m/s^2."""
    t_len = 40
    speed = np.concatenate(
        [25.0 - 5.0 * np.arange(16) / FPS, np.full(10, 10.0), 10.0 + 2.0 * np.arange(1, 15) / FPS]
    )
    ego = np.zeros((t_len, 5))
    ego[:, 3] = speed
    ego[1:, 0] = np.cumsum(0.5 * (speed[1:] + speed[:-1]) / FPS)
    lead = np.zeros((t_len, 1, 5))
    lead[:, 0, 3] = 10.0
    lead[:, 0, 0] = 40.0 + 10.0 * np.arange(t_len) / FPS
    lead[30:, 0, 1] = -8.0  # gone to another lane for the last quarter
    specs = [VehicleSpec("car", "green", 4.6, 1.9), VehicleSpec("truck", "yellow", 10.0, 2.5)]
    s = summarize(ego, lead, specs, lanes=3, fps=FPS, crashed=np.zeros(t_len, bool))
    assert s.lead is not None and s.lead[0] == 0 and s.lead[2] == pytest.approx(10.0)
    assert [(a, b) for a, b, *_ in s.speed_phases] == [(0, 15), (25, 39)]
    text = caption(s, specs, lanes=3, start_lane=1, view="chase")
    assert (
        "The green car brakes hard behind a slower yellow truck in its lane, dropping from 90 to 35 km/h, "
        "then speeding up to 55 km/h." in text
    )


def test_speed_pivots() -> None:
    assert speed_pivots(np.full(10, 20.0), 2.5) == []
    assert speed_pivots(np.array([20.0, 21, 20, 21.5, 20, 22, 20]), 2.5) == []  # noise only
    assert speed_pivots(np.arange(20.0, 30.0), 2.5) == [0, 9]
    v = np.array([30.0, 29, 27, 24, 20, 18, 18, 19, 22, 26, 27, 27])
    assert speed_pivots(v, 2.5) == [0, 6, 11]  # turning points on plateaus: their last frame


def test_fast_road_answers_like_highway_env() -> None:
    """`StraightRoad` / `StraightHighway` give highway-env's neighbours and closest lanes."""
    plan_rng, traffic_rng, _, _ = setup_rngs(4)
    setup = sample_setup(plan_rng, 6.4, "overtake")
    traffic = Traffic(
        setup.lanes, setup.ego_spec, setup.ego_lane, setup.ego_speed, setup.traffic, traffic_rng, 5000.0
    )
    road = traffic.road
    rng = np.random.default_rng(0)
    lanes = [None] + [("0", "1", k) for k in range(setup.lanes)]
    checked = 0
    library_act = Road.act
    for step in range(12):

        def check(self: Road = road) -> None:  # runs inside the fast `act`, where its caches are live
            nonlocal checked
            for v in self.vehicles:
                for lane in lanes:
                    fast, ref = self.neighbour_vehicles(v, lane), Road.neighbour_vehicles(self, v, lane)
                    assert fast[0] is ref[0] and fast[1] is ref[1]
                    checked += 1
            library_act(self)

        Road.act = check
        try:
            road.act()
        finally:
            Road.act = library_act
        for v in road.vehicles:
            for pos in (v.position, v.position + rng.normal(0.0, 3.0, 2)):
                for heading in (None, v.heading, float(rng.normal(0.0, 1.0))):
                    ref = RoadNetwork.get_closest_lane_index(road.network, pos, heading)
                    assert road.network.get_closest_lane_index(pos, heading) == ref
        traffic.step(np.array([0.2 * np.sin(step), 0.4 * np.cos(step / 2)]), 1 / FPS, 2)
    assert checked > 500


def test_culling_hides_nothing_visible() -> None:
    """Frames rendered with per-frame culling match frames with every geom drawn (up to sub-pixel
    detail far away)."""
    size = 48
    plan_rng, traffic_rng, driver_rng, scene_rng = setup_rngs(2)
    setup = sample_setup(plan_rng, 16 / FPS)
    style = SceneStyle.sample(scene_rng)
    rig = CameraRig.sample(scene_rng, "chase", setup.ego_spec.length)
    ego, others, _, _, specs = simulate(setup, traffic_rng, driver_rng, 16)
    scene = build_scene(setup.lanes, (0.0, float(ego[-1, 0]) + 200.0), specs, style, rig, scene_rng, size)
    data = mujoco.MjData(scene.model)
    with SceneRenderer(scene.model, size, size, "cam", scene.geom_instance) as renderer:
        for t in (0, 8, 15):
            scene.set_poses(data, np.concatenate([ego[t, None, :3], others[t, :, :3]]))
            hidden = (scene.model.geom_group != 0).sum()
            rgb, _, seg = renderer.render(data)
            scene.model.geom_group[:] = 0
            rgb_all, _, seg_all = renderer.render(data)
            assert hidden > scene.model.ngeom // 2  # most geoms are culled
            assert (np.abs(rgb.astype(int) - rgb_all).max(-1) > 30).mean() < 0.01
            assert (seg != seg_all).mean() < 0.01
            for vehicle in np.unique(seg_all[(seg_all >= 1) & (seg_all <= len(specs))]):
                a, b = (seg == vehicle).sum(), (seg_all == vehicle).sum()
                assert abs(int(a) - int(b)) <= max(2, 0.05 * b)


def test_dash_view_and_registry() -> None:
    ep = generate_episode("driving", seed=3, num_frames=2, size=32)
    assert ep.params["view"] == "chase"
    dash = generate(seed=3, num_frames=2, size=32, view="dash")
    assert dash.params["camera"]["view"] == "dash" and dash.caption.startswith("Dash-camera view")
    np.testing.assert_array_equal(dash.states["ego_pose"], ep.states["ego_pose"])  # same traffic
    assert dash.camera.extrinsics[0, 2, 3] < ep.camera.extrinsics[0, 2, 3]  # lower camera
    assert (dash.segmentation == 1).mean() < 0.01  # the ego itself is (nearly) out of view


def test_replaying_the_recorded_actions_reproduces_the_episode(episode: Episode) -> None:
    replay = generate(seed=7, num_frames=32, size=64, manoeuvre="overtake", actions=episode.actions)
    np.testing.assert_array_equal(replay.frames, episode.frames)
    np.testing.assert_array_equal(replay.segmentation, episode.segmentation)
    for key, value in episode.states.items():
        np.testing.assert_array_equal(replay.states[key], value)
    assert replay.caption == episode.caption
    assert replay.params == {**episode.params, "actions": "given"} and "actions" not in episode.params


@pytest.mark.parametrize("branch", [1, 6])
def test_counterfactual_branch_keeps_the_frames_before_it(episode: Episode, branch: int) -> None:
    """Full throttle from action `branch` - 1 on (the recorded steering kept): the ego drives past
    the original episode's end, beyond its scenery (which is then extended); frames 0 .. branch - 1
    and the traffic up to there are unchanged, later frames are not."""
    actions = episode.actions.copy()
    actions[branch - 1 :, 0] = 1.0
    cf = generate(seed=7, num_frames=32, size=64, manoeuvre="overtake", actions=actions)
    np.testing.assert_array_equal(cf.frames[:branch], episode.frames[:branch])
    np.testing.assert_array_equal(
        cf.states["vehicle_poses"][:branch], episode.states["vehicle_poses"][:branch]
    )
    np.testing.assert_array_equal(cf.actions, actions)
    assert cf.states["ego_pose"][-1, 0] > episode.states["ego_pose"][-1, 0] + 40.0
    assert cf.states["ego_speed"][-1] > episode.states["ego_speed"][-1] + 10.0
    assert (np.abs(cf.frames[branch:].astype(int) - episode.frames[branch:]).max(-1) > 16).mean() > 0.02
    assert "speeding up from 70 to 145 km/h" in cf.caption  # measured from the new drive


def test_braking_stops_the_car_and_never_reverses_it() -> None:
    """Full braking from the start (a counterfactual the driver model never does): the ego slows to a
    standstill and stays there; highway-env's kinematics alone would drive it backwards."""
    cf = generate(seed=7, num_frames=32, size=16, manoeuvre="overtake", actions=np.tile([-1.0, 0.0], (31, 1)))
    speed, x = cf.states["ego_speed"], cf.states["ego_pose"][:, 0]
    assert speed.min() >= 0.0 and abs(float(speed[-1])) < 1e-4
    assert np.all(np.diff(x) >= -1e-4) and x[-1] > 20.0
    assert "from 70 to 0 km/h" in cf.caption  # the caption is measured from the new drive


def test_scene_extension_only_adds_geoms() -> None:
    plan_rng, _, _, scene_rng = setup_rngs(4)
    setup = sample_setup(plan_rng, 2.0)
    style = SceneStyle.sample(scene_rng)
    rig = CameraRig.sample(scene_rng, "chase", setup.ego_spec.length)
    specs, state = [setup.ego_spec], scene_rng.bit_generator.state

    def scene(drive_span: tuple[float, float] | None) -> mujoco.MjModel:
        scene_rng.bit_generator.state = state
        ext = np.random.default_rng(0)
        return build_scene(setup.lanes, (0.0, 50.0), specs, style, rig, scene_rng, 32, drive_span, ext).model

    base, inside, beyond = scene(None), scene((5.0, 40.0)), scene((-300.0, 400.0))
    assert inside.ngeom == base.ngeom
    np.testing.assert_array_equal(inside.geom_pos, base.geom_pos)
    assert beyond.ngeom > base.ngeom
    # The original world geoms come first and unchanged, the vehicles and the sky last (body order).
    n_world, n_bodies = int((base.geom_bodyid == 0).sum()), int((base.geom_bodyid != 0).sum())
    for field in ("geom_pos", "geom_size", "geom_matid"):
        ours, theirs = getattr(beyond, field), getattr(base, field)
        np.testing.assert_array_equal(ours[:n_world], theirs[:n_world])
        np.testing.assert_array_equal(ours[-n_bodies:], theirs[-n_bodies:])
    # The road now spans the drive (plus the margins) without gaps: asphalt boxes abut.
    asphalt = beyond.material("asphalt").id
    boxes = np.flatnonzero(beyond.geom_matid == asphalt)
    ends = sorted(
        (p - s, p + s) for p, s in zip(beyond.geom_pos[boxes, 0], beyond.geom_size[boxes, 0], strict=True)
    )
    assert ends[0][0] <= -300.0 and ends[-1][1] >= 400.0
    assert all(abs(b[0] - a[1]) < 1e-2 for a, b in itertools.pairwise(ends))
    with pytest.raises(ValueError, match="extension_rng"):
        build_scene(setup.lanes, (0.0, 50.0), specs, style, rig, scene_rng, 32, (0.0, 60.0))


def test_summarize_a_speed_change_in_the_last_second() -> None:
    """A counterfactual drive can change speed at its very end (summarize once failed on it)."""
    ego = np.zeros((12, 5))
    ego[:, 3] = np.r_[np.full(10, 20.0), 25.0, 30.0]
    ego[:, 0] = np.cumsum(ego[:, 3]) / FPS
    s = summarize(
        ego, np.zeros((12, 0, 5)), [VehicleSpec("car", "white", 4.6, 1.9)], 2, FPS, np.zeros(12, bool)
    )
    assert [(a, b) for a, b, *_ in s.speed_phases] == [(9, 11)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"actions": np.zeros((4, 2))}, r"actions must have shape \(3, 2\)"),
        ({"actions": np.full((3, 2), 1.5)}, "finite and within"),
        ({"size": 15}, "size must be an even number"),
        ({"num_frames": 1}, "num_frames must be at least 2"),
        ({"view": "drone"}, "view must be one of"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"manoeuvre": "u_turn"}, "manoeuvre must be one of"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    args = {"seed": 0, "num_frames": 4, "size": 16, **kwargs}
    with pytest.raises(ConfigError, match=match):
        generate(**args)
