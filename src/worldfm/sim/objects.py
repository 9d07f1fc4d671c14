"""The `objects` scenario: primitive objects dropped, thrown, pushed and colliding on a table or floor.

One to four primitives (box, sphere, cylinder, capsule) with random colours, sizes, masses and
friction are simulated in MuJoCo and rendered from a randomised camera under randomised light.
Every random choice is drawn from `np.random.default_rng(seed)` into `ObjectsParams` first, and the
episode is a pure function of those parameters, so the same seed gives the identical episode.
The caption is written from the simulated trajectories and contacts (`worldfm.sim.events`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import mujoco
import numpy as np

from worldfm.errors import ConfigError
from worldfm.sim.episode import Camera, Episode
from worldfm.sim.events import TrackedObject, compose_caption, detect_events
from worldfm.sim.mujoco_render import SceneRenderer
from worldfm.sim.registry import check_episode_args
from worldfm.sim.sampling import rounded, uniform

SCENARIO = "objects"
SHAPES = ("box", "sphere", "cylinder", "capsule")
MOTIONS = ("drop", "throw", "push", "rest")
SURFACES = ("table", "floor")
# Named colours, chosen to stay distinguishable from each other, the wooden table and the grey floor.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.10, 0.10),
    "green": (0.10, 0.70, 0.20),
    "blue": (0.10, 0.30, 0.90),
    "yellow": (0.95, 0.85, 0.10),
    "orange": (1.00, 0.50, 0.05),
    "purple": (0.55, 0.20, 0.75),
    "cyan": (0.10, 0.80, 0.85),
    "pink": (0.95, 0.45, 0.70),
    "white": (0.95, 0.95, 0.95),
    "black": (0.08, 0.08, 0.08),
}
GRAVITY = 9.81
TIMESTEP = 1.0 / 240.0  # seconds; 16 substeps per frame at 15 fps
SUBSTEPS = 16
FPS = 15.0
SURFACE_MARGIN = 0.06  # metres kept free between objects' start positions and the table edge


@dataclass(frozen=True)
class ObjectParams:
    """One primitive object. Lengths in metres, mass in kg, angles as unit quaternions (w, x, y, z).

    size: MuJoCo geom size — box (hx, hy, hz) half-extents, sphere (r,), cylinder (r, half-height),
        capsule (r, half-length of the cylindrical part).
    motion: how it starts: "drop" (released above the surface), "throw" (launched through the air),
        "push" (set moving along the surface) or "rest" (placed still).
    release: seconds after the first frame at which it is let go (held still at `pos` until then), so
        that objects can start moving one after another.
    linvel: initial world-frame linear velocity (m/s); angvel: initial world-frame angular velocity (rad/s).
    friction: (sliding, torsional, rolling) coefficients; damping: contact damping ratio (lower bounces more).
    """

    shape: str
    color: str
    rgb: tuple[float, float, float]
    size: tuple[float, ...]
    mass: float
    friction: tuple[float, float, float]
    damping: float
    motion: str
    pos: tuple[float, float, float]
    quat: tuple[float, float, float, float]
    linvel: tuple[float, float, float]
    angvel: tuple[float, float, float]
    release: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class CameraParams:
    """A camera orbiting `lookat`: distance (m), azimuth and elevation (degrees), vertical fov (degrees)."""

    lookat: tuple[float, float, float]
    distance: float
    azimuth: float
    elevation: float
    fovy: float


@dataclass(frozen=True)
class LightParams:
    """One directional light: unit direction it shines along, diffuse and ambient intensity in [0, 1]."""

    direction: tuple[float, float, float]
    diffuse: float
    ambient: float


@dataclass(frozen=True)
class ObjectsParams:
    """Everything that defines an `objects` episode (JSON-serialisable through `dataclasses.asdict`).

    table: (half-length x, half-width y, top height z) in metres, or None on the floor.
    """

    surface: str
    table: tuple[float, float, float] | None
    table_rgb: tuple[float, float, float]
    floor_rgb: tuple[float, float, float]
    objects: tuple[ObjectParams, ...]
    camera: CameraParams
    light: LightParams
    timestep: float = TIMESTEP
    substeps: int = SUBSTEPS
    fps: float = FPS

    def __post_init__(self) -> None:
        if self.surface not in SURFACES:
            raise ConfigError(f"surface must be one of {SURFACES}, got {self.surface!r}")
        if (self.surface == "table") != (self.table is not None):
            raise ConfigError(
                f"table dimensions must be given exactly when surface is 'table', got {self.table}"
            )
        if not 1 <= len(self.objects) <= 4:
            raise ConfigError(f"an objects scene holds 1 to 4 objects, got {len(self.objects)}")
        for obj in self.objects:
            if obj.shape not in SHAPES:
                raise ConfigError(f"object shape must be one of {SHAPES}, got {obj.shape!r}")
            if obj.motion not in MOTIONS:
                raise ConfigError(f"object motion must be one of {MOTIONS}, got {obj.motion!r}")
            if obj.mass <= 0 or min(obj.size) <= 0:
                raise ConfigError(f"object mass and sizes must be positive, got {obj.mass} and {obj.size}")
        if len({o.label for o in self.objects}) != len(self.objects):
            raise ConfigError("objects must have distinct colour + shape labels so captions can name them")
        if self.timestep <= 0 or self.substeps < 1:
            raise ConfigError(f"timestep and substeps must be positive, got {self.timestep}, {self.substeps}")
        if not math.isclose(self.fps * self.timestep * self.substeps, 1.0, rel_tol=1e-6):
            raise ConfigError(f"fps {self.fps} must equal 1 / (timestep * substeps)")

    @property
    def surface_z(self) -> float:
        return self.table[2] if self.table is not None else 0.0

    def to_json(self) -> dict[str, Any]:
        """Plain dict of the parameters (tuples become lists once dumped to JSON)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ObjectsParams:
        """Inverse of `to_json` (also accepts its JSON round trip, with lists for tuples)."""
        objects = tuple(ObjectParams(**_tuples(o)) for o in data["objects"])
        fields = _tuples({k: v for k, v in data.items() if k not in ("objects", "camera", "light")})
        return cls(
            objects=objects,
            camera=CameraParams(**_tuples(data["camera"])),
            light=LightParams(**_tuples(data["light"])),
            **fields,
        )


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


# ----------------------------------------------------------------------------------------------
# Sampling


def sample_params(seed: int) -> ObjectsParams:
    """Draw a random scene from `seed` (deterministic): surface, objects and their motions, camera, light."""
    rng = np.random.default_rng(seed)
    surface = "table" if rng.random() < 0.7 else "floor"
    if surface == "table":
        table = (uniform(rng, 0.30, 0.42), uniform(rng, 0.22, 0.32), uniform(rng, 0.35, 0.50))
        half = (table[0] - SURFACE_MARGIN, table[1] - SURFACE_MARGIN)
    else:
        table, half = None, (0.34, 0.26)
    surface_z = table[2] if table else 0.0

    n = int(rng.choice([1, 2, 3, 4], p=[0.15, 0.3, 0.3, 0.25]))
    shapes = [str(s) for s in rng.choice(SHAPES, n)]
    colors = [str(c) for c in rng.choice(list(PALETTE), n, replace=False)]
    motions = [str(m) for m in rng.choice(MOTIONS, n, p=[0.25, 0.2, 0.35, 0.2])]
    if all(m == "rest" for m in motions):
        motions[int(rng.integers(n))] = str(rng.choice(["drop", "throw", "push"]))
    # Moving objects are placed first: when the surface is full it is a resting one that is left out.
    order = sorted(range(n), key=lambda i: motions[i] == "rest")

    placed: list[tuple[np.ndarray, float, int]] = []  # (xy, bounding radius, index)
    specs: dict[int, dict] = {}
    for i in order:
        shape, motion = shapes[i], motions[i]
        size = _sample_size(rng, shape, motion)
        radius = (
            float(np.linalg.norm(size)) if shape == "box" else size[0] + (size[1] if len(size) > 1 else 0.0)
        )
        xy = _place(rng, half, radius, placed)
        if xy is None:  # no room left: fewer objects rather than overlapping ones
            continue
        placed.append((xy, radius, i))
        specs[i] = {"size": size, "xy": xy, "radius": radius}

    objects: list[ObjectParams] = []
    for i in sorted(specs):
        spec = specs[i]
        others = [(xy, r, j) for xy, r, j in placed if j != i]
        obj = _sample_object(rng, shapes[i], colors[i], motions[i], spec, others, half, surface, surface_z)
        # The first moving object starts at once, later ones may wait: events then spread over the clip.
        if obj.motion != "rest" and any(o.motion != "rest" for o in objects) and rng.random() < 0.6:
            obj = replace(obj, release=uniform(rng, 0.2, 1.0))
        objects.append(obj)

    # Aim a little above the surface: dropped and thrown objects start up to ~0.3 m above it.
    lookat = (uniform(rng, -0.05, 0.05), uniform(rng, -0.05, 0.05), surface_z + 0.06)
    camera = CameraParams(
        lookat=lookat,
        distance=uniform(rng, 0.95, 1.25),
        azimuth=uniform(rng, 0.0, 360.0),
        elevation=uniform(rng, 30.0, 55.0),
        fovy=uniform(rng, 40.0, 50.0),
    )
    light_dir = np.array([uniform(rng, -0.6, 0.6), uniform(rng, -0.6, 0.6), -1.0])
    light = LightParams(
        direction=rounded(light_dir / np.linalg.norm(light_dir)),
        diffuse=uniform(rng, 0.5, 0.9),
        ambient=uniform(rng, 0.15, 0.35),
    )
    wood = np.array([0.55, 0.38, 0.22]) * uniform(rng, 0.8, 1.15)
    grey = uniform(rng, 0.35, 0.65)
    floor = np.array([grey, grey, grey]) + rng.uniform(-0.05, 0.05, 3)
    return ObjectsParams(
        surface=surface,
        table=table,
        table_rgb=rounded(np.clip(wood, 0, 1)),
        floor_rgb=rounded(np.clip(floor, 0, 1)),
        objects=tuple(objects),
        camera=camera,
        light=light,
    )


def _sample_size(rng: np.random.Generator, shape: str, motion: str) -> tuple[float, ...]:
    if shape == "sphere":
        return (uniform(rng, 0.045, 0.07),)
    if shape == "box":
        # Resting boxes are tall so that a hit can knock them over.
        hz = uniform(rng, 0.07, 0.1) if motion == "rest" else uniform(rng, 0.035, 0.065)
        return (uniform(rng, 0.035, 0.06), uniform(rng, 0.035, 0.06), hz)
    if shape == "cylinder":
        return (uniform(rng, 0.035, 0.055), uniform(rng, 0.05, 0.09))
    return (uniform(rng, 0.03, 0.045), uniform(rng, 0.04, 0.07))


def _place(
    rng: np.random.Generator,
    half: tuple[float, float],
    radius: float,
    placed: list[tuple[np.ndarray, float, int]],
) -> np.ndarray | None:
    """A start position inside the surface region at least a gap away from every placed object."""
    for _ in range(100):
        xy = rng.uniform([-half[0], -half[1]], [half[0], half[1]])
        if all(np.linalg.norm(xy - p) > radius + r + 0.04 for p, r, _ in placed):
            return xy
    return None


def _sample_object(
    rng: np.random.Generator,
    shape: str,
    color: str,
    motion: str,
    spec: dict,
    others: list[tuple[np.ndarray, float, int]],
    half: tuple[float, float],
    surface: str,
    surface_z: float,
) -> ObjectParams:
    size, xy, radius = spec["size"], spec["xy"], spec["radius"]
    mass = uniform(rng, 0.05, 0.3) if motion == "rest" else uniform(rng, 0.3, 1.5)
    friction = (uniform(rng, 0.3, 0.9), 0.005, uniform(rng, 0.001, 0.004))
    damping = uniform(rng, 0.15, 0.5) if shape == "sphere" else uniform(rng, 0.4, 1.0)
    yaw = rng.uniform(0, 2 * np.pi)
    linvel, angvel = np.zeros(3), np.zeros(3)

    if motion in ("push", "throw"):
        target = _sample_target(rng, xy, others, half, surface)
        delta = target - xy
        dist = max(float(np.linalg.norm(delta)), 1e-6)
        direction = np.append(delta / dist, 0.0)
    if motion == "rest" or motion == "push":
        # Capsules lie (standing on a round end is unstable); cylinders mostly lie when pushed (to
        # roll) and mostly stand when resting (to be knocked over).
        lying = shape == "capsule" or (shape == "cylinder" and (rng.random() < 0.7) == (motion == "push"))
        if motion == "push" and lying:
            # Axis horizontal and across the push direction, so the push starts a roll.
            yaw = math.atan2(direction[1], direction[0])
        quat = _upright_quat(yaw, lying)
        lift = size[0] if shape == "sphere" or lying else size[-1] if shape == "box" else size[1]
        if shape == "capsule" and not lying:
            lift = size[0] + size[1]
        pos = np.array([xy[0], xy[1], surface_z + lift + 0.001])
        if motion == "push":
            rolls = shape == "sphere" or lying
            if rolls:
                speed = uniform(rng, 0.5, 1.3)
                linvel = speed * direction
                angvel = np.cross([0.0, 0.0, 1.0], linvel) / size[0]  # rolling without slipping
            else:
                # Enough speed to slide the distance against friction, with some to spare.
                speed = min(3.0, math.sqrt(2 * friction[0] * GRAVITY * dist) * uniform(rng, 1.1, 1.5))
                linvel = speed * direction
    else:
        quat = _random_quat(rng)
        height = uniform(rng, 0.08, 0.25)
        on = [(p, r) for p, r, _ in others]
        if motion == "drop" and on and rng.random() < 0.35:
            # Drop onto another object from a little to its side, so it lands on it.
            p, r = on[int(rng.integers(len(on)))]
            xy = p + rng.uniform(-0.3, 0.3, 2) * r
            height += 2 * r
        pos = np.array([xy[0], xy[1], surface_z + radius + height])
        angvel = rng.uniform(-3.0, 3.0, 3)
        if motion == "throw":
            vz = uniform(rng, 0.3, 1.2)
            # Time of flight to the landing height; horizontal speed that covers the distance in it.
            drop = pos[2] - (surface_z + radius)
            t = (vz + math.sqrt(vz * vz + 2 * GRAVITY * drop)) / GRAVITY
            linvel = direction * (dist / t) + np.array([0.0, 0.0, vz])
    return ObjectParams(
        shape=shape,
        color=color,
        rgb=PALETTE[color],
        size=rounded(size),
        mass=mass,
        friction=friction,
        damping=damping,
        motion=motion,
        pos=rounded(pos),
        quat=rounded(quat),
        linvel=rounded(linvel),
        angvel=rounded(angvel),
    )


def _sample_target(
    rng: np.random.Generator,
    xy: np.ndarray,
    others: list[tuple[np.ndarray, float, int]],
    half: tuple[float, float],
    surface: str,
) -> np.ndarray:
    """Where a pushed or thrown object is aimed: another object, over the table edge, or a free spot."""
    u = rng.random()
    if others and u < 0.6:
        p, r, _ = others[int(rng.integers(len(others)))]
        return p + rng.uniform(-0.4, 0.4, 2) * r
    if surface == "table" and u < 0.8:
        axis, sign = int(rng.integers(2)), float(rng.choice([-1.0, 1.0]))
        target = xy.copy()
        target[axis] = sign * (half[axis] + SURFACE_MARGIN + 0.15)
        return target
    return rng.uniform([-half[0], -half[1]], [half[0], half[1]])


def _upright_quat(yaw: float, lying: bool) -> np.ndarray:
    """Yaw about world z; `lying` then turns the local z axis horizontal (along world y before yaw)."""
    q_yaw = np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])
    if not lying:
        return q_yaw
    q_lie = np.array([math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0])  # 90 degrees about x
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, q_yaw, q_lie)
    return out


def _random_quat(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


# ----------------------------------------------------------------------------------------------
# Model


def build_mjcf(params: ObjectsParams) -> str:
    """The MJCF scene for `params`: floor, optional table (top + 4 legs), objects as free bodies, one camera."""
    cam = params.camera
    az, el = math.radians(cam.azimuth), math.radians(cam.elevation)
    lookat = np.array(cam.lookat)
    cam_pos = lookat + cam.distance * np.array(
        [math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)]
    )
    forward = (lookat - cam_pos) / np.linalg.norm(lookat - cam_pos)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    light = params.light

    def f(values: tuple[float, ...] | np.ndarray) -> str:
        return " ".join(f"{float(v):.6g}" for v in values)

    parts = [
        '<mujoco model="objects">',
        f'  <option timestep="{params.timestep:.8g}" integrator="implicitfast" cone="pyramidal"/>',
        '  <statistic extent="2" center="0 0 0.3"/>',
        "  <visual>",
        # Coarser tessellation than the default 28x16 (invisible at these sizes, ~20% faster to draw)
        # and no multisampling: 4x MSAA makes llvmpipe's colour pass ~4x slower (0.6 -> 2.8 ms at 64 px).
        '    <quality shadowsize="0" numslices="16" numstacks="8" offsamples="0"/>',
        f'    <headlight ambient="{f([light.ambient] * 3)}" diffuse="0.25 0.25 0.25" specular="0 0 0"/>',
        '    <map znear="0.01" zfar="50"/>',
        "  </visual>",
        "  <worldbody>",
        f'    <light directional="true" castshadow="false" pos="0 0 3" dir="{f(light.direction)}"'
        f' diffuse="{f([light.diffuse] * 3)}" specular="0.1 0.1 0.1"/>',
        # No skybox (uploading its texture costs ~0.1 s per renderer): a floor wide enough to fill
        # the view up to the horizon instead, drawn as few large quads (the third size is the
        # rendering grid spacing; fine grids cost more to draw than everything else together).
        f'    <geom name="floor" type="plane" size="40 40 4" rgba="{f(params.floor_rgb)} 1"/>',
        f'    <camera name="cam" pos="{f(cam_pos)}" xyaxes="{f(right)} {f(up)}" fovy="{cam.fovy:.6g}"/>',
    ]
    if params.table is not None:
        hx, hy, top = params.table
        thick, leg = 0.02, 0.025
        rgba = f"{f(params.table_rgb)} 1"
        parts.append(
            f'    <geom name="table_top" type="box" size="{hx:.6g} {hy:.6g} {thick:.6g}"'
            f' pos="0 0 {top - thick:.6g}" rgba="{rgba}"/>'
        )
        leg_h = (top - 2 * thick) / 2
        for k, (sx, sy) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)]):
            x, y = sx * (hx - 2 * leg), sy * (hy - 2 * leg)
            parts.append(
                f'    <geom name="table_leg{k}" type="box" size="{leg} {leg} {leg_h:.6g}"'
                f' pos="{x:.6g} {y:.6g} {leg_h:.6g}" rgba="{rgba}"/>'
            )
    for i, obj in enumerate(params.objects):
        # priority=1: an object's friction and bounce decide its contacts with the table and floor.
        parts += [
            f'    <body name="obj{i}" pos="{f(obj.pos)}" quat="{f(obj.quat)}">',
            "      <freejoint/>",
            f'      <geom name="obj{i}" type="{obj.shape}" size="{f(obj.size)}" rgba="{f(obj.rgb)} 1"'
            f' mass="{obj.mass:.6g}" friction="{f(obj.friction)}" condim="6" priority="1"'
            f' solref="0.02 {obj.damping:.6g}"/>',
            "    </body>",
        ]
    parts += ["  </worldbody>", "</mujoco>"]
    return "\n".join(parts)


class _Launcher:
    """Holds each object still at its start pose until its release time, then gives it its velocity."""

    def __init__(self, model: mujoco.MjModel, params: ObjectsParams) -> None:
        self.pending: list[tuple[float, slice, slice, np.ndarray, np.ndarray]] = []
        for i, obj in enumerate(params.objects):
            joint = model.body_jntadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"obj{i}")]
            qadr, dadr = model.jnt_qposadr[joint], model.jnt_dofadr[joint]
            rot = np.zeros(9)
            mujoco.mju_quat2Mat(rot, np.array(obj.quat, np.float64))
            # Free joints take linear velocity in the world frame and angular velocity in the body frame.
            qvel = np.concatenate([obj.linvel, rot.reshape(3, 3).T @ np.array(obj.angvel)])
            qpos = np.concatenate([obj.pos, obj.quat])
            self.pending.append((obj.release, slice(qadr, qadr + 7), slice(dadr, dadr + 6), qpos, qvel))
        self.pending.sort(key=lambda p: p[0])

    def update(self, data: mujoco.MjData) -> None:
        """Call after every step (and once before the first): release or keep holding each object."""
        while self.pending and data.time >= self.pending[0][0] - 1e-9:
            _, _, dofs, _, qvel = self.pending.pop(0)
            data.qvel[dofs] = qvel
        for _, qs, dofs, qpos, _ in self.pending:
            data.qpos[qs] = qpos
            data.qvel[dofs] = 0.0


# ----------------------------------------------------------------------------------------------
# Simulation


def simulate(params: ObjectsParams, num_frames: int = 32, size: int = 64, seed: int = -1) -> Episode:
    """Simulate and render the scene `params` into an `Episode` of `num_frames` frames of `size` pixels.

    `seed` is only recorded (-1: the parameters were not drawn from a seed).

    States (float32, T = num_frames, N = number of objects):
        object_pos (T, N, 3) world position of each object's centre, metres;
        object_quat (T, N, 4) world orientation (w, x, y, z);
        object_linvel (T, N, 3) m/s and object_angvel (T, N, 3) rad/s, world frame;
        object_contacts (T, N, N + 2) 1.0 where object i touched object j (columns 0..N-1), the table
            (column N) or the floor (column N + 1) at any physics step since the previous frame.
    """
    check_episode_args(num_frames, size)
    model = mujoco.MjModel.from_xml_string(build_mjcf(params))
    data = mujoco.MjData(model)
    n = len(params.objects)
    bodies = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"obj{i}") for i in range(n)]

    # Who each geom belongs to: object i -> i, table -> n, floor -> n + 1 (contact bookkeeping), and
    # the instance id it renders as: objects 1..n, table n + 1, floor background 0.
    owner = np.full(model.ngeom, -1, np.int64)
    geom_instance = np.zeros(model.ngeom, np.int32)
    for g in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
        if name.startswith("obj"):
            owner[g] = int(name[3:])
            geom_instance[g] = owner[g] + 1
        elif name.startswith("table"):
            owner[g], geom_instance[g] = n, n + 1
        elif name == "floor":
            owner[g] = n + 1

    launcher = _Launcher(model, params)
    launcher.update(data)
    mujoco.mj_forward(model, data)

    t_count = num_frames
    frames = np.empty((t_count, size, size, 3), np.uint8)
    depth = np.empty((t_count, size, size), np.float32)
    seg = np.empty((t_count, size, size), np.int32)
    pos = np.empty((t_count, n, 3))
    quat = np.empty((t_count, n, 4))
    linvel = np.empty((t_count, n, 3))
    angvel = np.empty((t_count, n, 3))
    contacts = np.zeros((t_count, n + 2, n + 2), bool)
    extrinsics = np.empty((t_count, 4, 4))
    vel6 = np.zeros(6)

    with SceneRenderer(model, size, size, "cam", geom_instance) as renderer:
        intrinsics = renderer.intrinsics()
        for t in range(t_count):
            steps = 0 if t == 0 else params.substeps
            _record_contacts(data, owner, contacts[t])
            for _ in range(steps):
                mujoco.mj_step(model, data)
                launcher.update(data)
                _record_contacts(data, owner, contacts[t])
            if steps:
                # mj_step leaves poses computed before its last integration: refresh them so that the
                # recorded states and the rendered frame show the same instant.
                mujoco.mj_forward(model, data)
            for i, b in enumerate(bodies):
                mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, b, vel6, 0)
                angvel[t, i], linvel[t, i] = vel6[:3], vel6[3:]
            pos[t] = data.xpos[bodies]
            quat[t] = data.xquat[bodies]
            frames[t], depth[t], seg[t] = renderer.render(data)
            extrinsics[t] = renderer.extrinsics(data)

    states = {
        "object_pos": pos.astype(np.float32),
        "object_quat": quat.astype(np.float32),
        "object_linvel": linvel.astype(np.float32),
        "object_angvel": angvel.astype(np.float32),
        "object_contacts": contacts[:, :n, :].astype(np.float32),
    }
    tracked = [TrackedObject(label=o.label, shape=o.shape, size=o.size) for o in params.objects]
    events = detect_events(
        tracked, states["object_pos"], states["object_quat"], states["object_linvel"], states["object_angvel"],
        states["object_contacts"] > 0, surface=params.surface, fps=params.fps,
        table_top=params.table[2] if params.table is not None else None,
    )  # fmt: skip
    instances = [
        {
            "id": i + 1,
            "name": f"obj{i}",
            "category": o.shape,
            "color": o.color,
            "rgb": list(o.rgb),
            "size": list(o.size),
            "mass": o.mass,
        }
        for i, o in enumerate(params.objects)
    ]
    if params.table is not None:
        instances.append(
            {
                "id": n + 1,
                "name": "table",
                "category": "table",
                "color": "brown",
                "rgb": list(params.table_rgb),
            }
        )
    return Episode(
        frames=frames,
        depth=depth,
        segmentation=seg,
        states=states,
        actions=None,
        action_names=[],
        camera=Camera(intrinsics=intrinsics, extrinsics=extrinsics),
        caption=compose_caption(events, [o.label for o in params.objects], surface=params.surface),
        instances=instances,
        scenario=SCENARIO,
        seed=int(seed),
        params=params.to_json(),
        fps=params.fps,
    )


def _record_contacts(data: mujoco.MjData, owner: np.ndarray, out: np.ndarray) -> None:
    """Mark in `out` ((N + 2, N + 2) bool, symmetric) every owner pair in contact right now."""
    if data.ncon == 0:
        return
    pairs = owner[data.contact.geom[: data.ncon]]  # (ncon, 2)
    pairs = pairs[(pairs >= 0).all(axis=1)]
    out[pairs[:, 0], pairs[:, 1]] = True
    out[pairs[:, 1], pairs[:, 0]] = True


def generate(seed: int, num_frames: int = 32, size: int = 64) -> Episode:
    """One `objects` episode: `num_frames` frames of `size` x `size` pixels at 15 fps, from `seed`.

    The same (seed, num_frames, size) gives a byte-identical episode; `Episode.params` holds the
    sampled `ObjectsParams` (see `sample_params`) and `Episode.caption` describes what happens.
    """
    check_episode_args(num_frames, size)
    return simulate(sample_params(seed), num_frames=num_frames, size=size, seed=seed)
