"""The `driving` scenario: an ego car among highway traffic, filmed by a camera riding on it.

Traffic dynamics come from highway-env (IDM car-following, MOBIL lane changes, kinematic bicycle
ego; see `driving_traffic`), the ego is driven by a scripted, noisy driver carrying out a random
manoeuvre (follow, accelerate, brake, change lane, overtake; `driving_plan`, `driving_driver`), and
each frame is rendered in MuJoCo (`driving_scene`) for true depth and per-vehicle instance masks.
The caption is measured from the trajectories (`driving_caption`). Everything random is drawn
from `seed` (highway-env's vehicle randomness included), so the same arguments give a
byte-identical episode in any process.

World frame: x along the road from the ego's start, y to the left, z up; lane k (0 = leftmost) is
centred on y = -4 k m. Recorded at `FPS` frames per second, one action per frame. The camera is
rigidly mounted on the ego (chase or dash view); extrinsics are OpenCV camera-to-world.

Actions: (T - 1, 2) float32 in [-1, 1], names ("acceleration", "steering"). acceleration * 5 is
the longitudinal acceleration in m/s^2; steering * 0.05 is the front-wheel angle in radians,
positive to the left. Both are held for the 1 / FPS s between frame t and t + 1.

Segmentation ids (`Episode.instances` describes each): 1 the ego, k + 2 traffic vehicle k,
N + 2 the road surface with its markings (N traffic vehicles); 0 sky, grass, barriers and trees.
Depth is metres along the camera axis; sky pixels read the far plane (`FAR_PLANE`, 600 m).

States (float32):
    ego_pose (T, 3): x, y (m), heading (rad, counter-clockwise from +x).
    ego_speed (T,): m/s.           ego_lane (T,): lane index, 0 = leftmost.
    ego_crashed (T,): 1 once highway-env registered a collision of the ego, else 0.
    vehicle_poses (T, N, 3), vehicle_speeds (T, N), vehicle_lanes (T, N): the N traffic vehicles,
        in instance order (vehicle k is instance id k + 2).
"""

from __future__ import annotations

import mujoco
import numpy as np

from worldfm.errors import ConfigError
from worldfm.sim.driving_caption import caption, summarize
from worldfm.sim.driving_driver import EgoDriver
from worldfm.sim.driving_plan import MANOEUVRES, DrivingSetup, sample_setup
from worldfm.sim.driving_scene import FAR_PLANE, VIEWS, CameraRig, SceneStyle, build_scene
from worldfm.sim.driving_traffic import ACCEL_MAX, ROAD_START_X, STEER_MAX, Traffic, VehicleSpec
from worldfm.sim.episode import Camera, Episode
from worldfm.sim.mujoco_render import SceneRenderer
from worldfm.sim.registry import check_actions, check_episode_args

SCENARIO = "driving"
FPS = 5.0  # frames (and actions) per second; 32 frames = 6.4 s, enough for a lane change or an overtake
SUBSTEPS = 2  # highway-env integration steps per frame (10 Hz simulation)
ACTION_NAMES = ["acceleration", "steering"]


def generate(
    seed: int,
    num_frames: int = 32,
    size: int = 64,
    *,
    view: str = "chase",
    manoeuvre: str | None = None,
    actions: np.ndarray | None = None,
) -> Episode:
    """Simulate and render one driving episode of `num_frames` frames at `size` x `size` pixels.

    view: "chase" (camera 6.5-9.5 m behind and 2.6-3.8 m above the ego, which is visible) or
    "dash" (camera at the front of the ego, looking ahead).
    manoeuvre: force the ego driver's primary manoeuvre (one of `MANOEUVRES`: follow, accelerate,
    brake, lane_change_left, lane_change_right, overtake), e.g. to balance a data set; None draws it.
    actions: optional (num_frames - 1, 2) array in [-1, 1] that drives the ego instead of its driver
    model: a counterfactual replay. The episode's recorded actions reproduce it exactly, and actions
    that agree with them up to action j give frames 0 .. j + 1 identical to the original's: the
    traffic starts the same and reacts to the ego from then on, and the scenery is the original
    episode's, extended (from its own random stream) wherever the replay drives beyond it.
    Same arguments give the same episode.
    """
    check_episode_args(num_frames, size)
    if view not in VIEWS:
        raise ConfigError(f"view must be one of {VIEWS}, got {view!r}")
    if manoeuvre is not None and manoeuvre not in MANOEUVRES:
        raise ConfigError(f"manoeuvre must be one of {MANOEUVRES} or None, got {manoeuvre!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    given = None if actions is None else check_actions(actions, num_frames, len(ACTION_NAMES))
    # Independent streams, so that e.g. scenery changes never shift the traffic. The fifth only
    # extends the scenery of counterfactual replays (spawn(5)[:4] == spawn(4)).
    children = np.random.SeedSequence(int(seed)).spawn(5)
    plan_rng, traffic_rng, driver_rng, scene_rng, extension_rng = (np.random.default_rng(s) for s in children)
    setup = sample_setup(plan_rng, num_frames / FPS, manoeuvre)
    style = SceneStyle.sample(scene_rng)
    rig = CameraRig.sample(scene_rng, view, setup.ego_spec.length)
    ego, others, crashed, actions, specs = simulate(setup, traffic_rng, driver_rng, num_frames)
    scenery_span = _x_span(ego)
    if given is not None:
        # Replay from the same start: fresh copies of the streams the first run consumed.
        traffic_rng, driver_rng = (np.random.default_rng(s) for s in children[1:3])
        ego, others, crashed, actions, specs = simulate(setup, traffic_rng, driver_rng, num_frames, given)
    frames, depth, seg, extrinsics, intrinsics = render(
        setup.lanes, ego, others, specs, style, rig, scene_rng, size,
        scenery_span=scenery_span, extension_rng=extension_rng,
    )  # fmt: skip

    summary = summarize(ego, others, specs, setup.lanes, FPS, crashed)
    text = caption(summary, specs, setup.lanes, setup.ego_lane, view)
    states = {
        "ego_pose": ego[:, :3].astype(np.float32),
        "ego_speed": ego[:, 3].astype(np.float32),
        "ego_lane": ego[:, 4].astype(np.float32),
        "ego_crashed": crashed.astype(np.float32),
        "vehicle_poses": others[:, :, :3].astype(np.float32),
        "vehicle_speeds": others[:, :, 3].astype(np.float32),
        "vehicle_lanes": others[:, :, 4].astype(np.float32),
    }
    params = {
        **setup.params,
        "view": view,
        "camera": rig.to_json(),
        "style": style.to_json(),
        "sim_substeps": SUBSTEPS,
        "action_scale": {"acceleration_m_per_s2": ACCEL_MAX, "steering_rad": STEER_MAX},
    }
    if given is not None:
        params["actions"] = "given"  # a counterfactual replay, not the driver model's own drive
    return Episode(
        frames=frames,
        depth=depth,
        segmentation=seg,
        states=states,
        actions=actions,
        action_names=list(ACTION_NAMES),
        camera=Camera(intrinsics, extrinsics),
        caption=text,
        instances=instances(specs, setup.lanes),
        scenario=SCENARIO,
        seed=int(seed),
        params=params,
        fps=FPS,
    )


def simulate(
    setup: DrivingSetup,
    traffic_rng: np.random.Generator,
    driver_rng: np.random.Generator,
    num_frames: int,
    actions: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[VehicleSpec]]:
    """Run the traffic with the scripted ego driver, or with `actions` ((num_frames - 1, 2) in
    [-1, 1], already checked) in its place.

    Returns ego (T, 5) and others (T, N, 5) float64 states [x, y, heading, speed, lane] in the world
    frame, crashed (T,) bool, actions (T - 1, 2) float32 in [-1, 1], and the vehicle specs (ego first).
    """
    dt = 1.0 / FPS
    road_length = max(10_000.0, ROAD_START_X + 45.0 * num_frames * dt + 1_000.0)
    traffic = Traffic(
        setup.lanes, setup.ego_spec, setup.ego_lane, setup.ego_speed, setup.traffic, traffic_rng, road_length
    )
    lengths = np.array([s.length for s in traffic.specs])
    widths = np.array([s.width for s in traffic.specs])
    driver = EgoDriver(setup.plan, setup.lanes, lengths, widths, driver_rng, setup.ego_lane)
    snaps = [traffic.snapshot()]
    given, actions = actions, np.zeros((num_frames - 1, 2), np.float32)
    for t in range(num_frames - 1):
        actions[t] = driver.act(snaps[-1], t * dt, dt) if given is None else given[t]
        traffic.step(actions[t], dt, SUBSTEPS)
        snaps.append(traffic.snapshot())
    ego = np.stack([s.ego for s in snaps])
    others = np.stack([s.others for s in snaps])
    crashed = np.array([s.ego_crashed for s in snaps])
    return ego, others, crashed, actions, traffic.specs


def render(
    lanes: int,
    ego: np.ndarray,
    others: np.ndarray,
    specs: list[VehicleSpec],
    style: SceneStyle,
    rig: CameraRig,
    rng: np.random.Generator,
    size: int,
    scenery_span: tuple[float, float] | None = None,
    extension_rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render every frame: rgb (T, S, S, 3) uint8, depth (T, S, S) float32 m (sky: `FAR_PLANE`),
    instance ids (T, S, S) int32 (vehicle i -> i + 1, road N + 2 for N traffic vehicles, sky and
    roadside 0), extrinsics (T, 4, 4) OpenCV camera-to-world and intrinsics (3, 3).

    scenery_span: the ego x-span the roadside is drawn for (default: this ego's); where the ego drives
    beyond it, the scenery is extended from `extension_rng` (see `build_scene`).
    """
    # Road from behind the ego's start to the sky ahead of its end; traffic beyond is hidden by the sky.
    span = _x_span(ego)
    if scenery_span is None or scenery_span == span:
        scene = build_scene(lanes, span, specs, style, rig, rng, size)
    else:
        scene = build_scene(lanes, scenery_span, specs, style, rig, rng, size, span, extension_rng)
    data = mujoco.MjData(scene.model)
    t_len = ego.shape[0]
    frames = np.zeros((t_len, size, size, 3), np.uint8)
    depth = np.zeros((t_len, size, size), np.float32)
    seg = np.zeros((t_len, size, size), np.int32)
    extrinsics = np.zeros((t_len, 4, 4), np.float64)
    renderer = SceneRenderer(scene.model, size, size, "cam", scene.geom_instance)
    try:
        for t in range(t_len):
            scene.set_poses(data, np.concatenate([ego[t, None, :3], others[t, :, :3]]))
            frames[t], depth[t], seg[t] = renderer.render(data)
            extrinsics[t] = renderer.extrinsics(data)
        intrinsics = renderer.intrinsics()
    finally:
        renderer.close()
    # The sky bands stand in for a skybox: background at the far plane, as empty pixels would be.
    sky = seg == scene.sky_id
    seg[sky] = 0
    depth[sky] = FAR_PLANE
    return frames, depth, seg, extrinsics, intrinsics


def _x_span(ego: np.ndarray) -> tuple[float, float]:
    return float(ego[:, 0].min()), float(ego[:, 0].max())


def instances(specs: list[VehicleSpec], lanes: int) -> list[dict]:
    """Instance records: id 1 is the ego, id k + 2 traffic vehicle k (category "car" or "truck"),
    and the last id (len(specs) + 1) the road surface with its lane markings (category "road")."""
    out = []
    for i, spec in enumerate(specs):
        out.append(
            {
                "id": i + 1,
                "name": "ego" if i == 0 else f"vehicle_{i - 1}",
                "category": spec.kind,
                "color": spec.color,
                "rgb": list(spec.rgb),
                "length": spec.length,
                "width": spec.width,
                "ego": i == 0,
            }
        )
    out.append({"id": len(specs) + 1, "name": "road", "category": "road", "lanes": lanes})
    return out
