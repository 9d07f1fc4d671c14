"""Scene of the `robot` scenario: a 4-DoF pusher arm on a table with primitive objects.

The table, the objects, the floor, the camera and the light are an `objects` scene
(`worldfm.sim.objects.ObjectsParams`, all objects at rest) built by `objects.build_mjcf`; this module
adds the arm to it and holds the arm's geometry and kinematics.

Arm (world frame z up; `base` is the centre of its pedestal on the table top):
    joint 0 "yaw"      about world z; 0 points the arm along +x, positive turns it counter-clockwise.
    joint 1 "shoulder" pitch, 0 = upper arm vertical, positive tilts it forward (away from the base).
    joint 2 "elbow"    pitch of the forearm relative to the upper arm, positive bends it forward/down.
    joint 3 "wrist"    pitch of the pusher relative to the forearm; q1 + q2 + q3 = pi points it straight down.
The pusher is a flat block (4 cm along the arm, 8 cm across it, 5 cm tall) at the wrist's end; the
end-effector point is the centre of its bottom face. Every joint has a position servo (stiffness
`KP`, critically damped, torque-limited) and gravity compensation, so the arm holds any commanded
pose. Arm geoms collide with the objects, the table and the floor, never with each other.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from worldfm.errors import ConfigError
from worldfm.sim.objects import (
    PALETTE,
    CameraParams,
    LightParams,
    ObjectParams,
    ObjectsParams,
    build_mjcf,
)
from worldfm.sim.sampling import rounded, uniform

JOINTS = ("yaw", "shoulder", "elbow", "wrist")
# Joint ranges (rad). Shoulder <= 1.8 keeps the upper arm clear of the table top.
JOINT_RANGE = ((-1.9, 1.9), (-0.6, 1.8), (0.0, 2.75), (-1.2, 2.4))
PEDESTAL_H = 0.04  # m, height of the fixed pedestal; the yaw turret sits on it
SHOULDER_H = 0.16  # m, shoulder axis above the table top
L_UPPER, L_FORE = 0.26, 0.24  # m, shoulder -> elbow and elbow -> wrist
L_HAND = 0.11  # m, wrist axis -> end-effector point (bottom of the pusher)
PAD = (0.02, 0.04, 0.025)  # pusher half-sizes: along the arm, across it, vertical
KP = (60.0, 80.0, 50.0, 20.0)  # N m / rad, position servo stiffness per joint
TORQUE = (20.0, 25.0, 15.0, 6.0)  # N m, servo torque limits
ARM_COLORS: dict[str, tuple[float, float, float]] = {
    "grey": (0.55, 0.56, 0.58),
    "white": (0.92, 0.92, 0.90),
    "black": (0.12, 0.12, 0.13),
    "orange": (1.00, 0.50, 0.05),
}
SHAPES = ("box", "cylinder", "sphere")
FPS = 10.0
# 12 physics substeps of 1/120 s per frame at 10 fps: pushes come out as with 5 ms steps (checked on
# sampled episodes) at 60% of the cost; the objects' contact time constant (0.02 s) stays >= 2 steps.
SUBSTEPS = 12
TIMESTEP = 1.0 / (FPS * SUBSTEPS)


@dataclass(frozen=True)
class ArmParams:
    """The arm: `base` (x, y, z) of its pedestal's bottom centre on the table top (m), colour name and
    RGB in [0, 1], start joint angles `q0` (rad, order `JOINTS`)."""

    base: tuple[float, float, float]
    color: str
    rgb: tuple[float, float, float]
    q0: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        if len(self.q0) != len(JOINTS):
            raise ConfigError(f"q0 must have {len(JOINTS)} joint angles, got {self.q0}")
        for name, q, (lo, hi) in zip(JOINTS, self.q0, JOINT_RANGE, strict=True):
            if not lo <= q <= hi:
                raise ConfigError(f"q0 of joint {name!r} must lie in [{lo}, {hi}], got {q}")


def sample_scene(rng: np.random.Generator) -> tuple[ObjectsParams, ArmParams]:
    """Draw a table with 1-3 resting objects in the arm's reach, the arm, a camera and a light."""
    hx, hy, top = uniform(rng, 0.34, 0.42), uniform(rng, 0.32, 0.4), uniform(rng, 0.4, 0.5)
    base = (round(-hx + 0.08, 6), uniform(rng, -0.03, 0.03), top)
    arm_color = str(rng.choice(list(ARM_COLORS), p=[0.55, 0.15, 0.15, 0.15]))
    colors = [c for c in PALETTE if c != arm_color]

    n = int(rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25]))
    objects: list[ObjectParams] = []
    placed: list[tuple[np.ndarray, float]] = []
    for color in rng.choice(colors, n, replace=False):
        obj = _sample_object(rng, str(color), base, (hx, hy, top), placed)
        if obj is not None:
            objects.append(obj)
            placed.append((np.array(obj.pos[:2]), footprint_radius(obj)))

    home = np.array(
        [
            *polar(base, uniform(rng, 0.18, 0.3), uniform(rng, -0.9, 0.9)),
            top + uniform(rng, 0.14, 0.26),
        ]
    )
    q0 = np.clip(inverse_kinematics(base, home) + rng.normal(0.0, 0.05, 4), *np.array(JOINT_RANGE).T)
    arm = ArmParams(base=base, color=arm_color, rgb=ARM_COLORS[arm_color], q0=rounded(q0))

    # Aim between the arm and its workspace, a little above the table (the raised arm reaches ~0.5 m
    # up); any side but straight behind the arm.
    lookat = (
        base[0] + uniform(rng, 0.2, 0.3),
        base[1] + uniform(rng, -0.05, 0.05),
        top + uniform(rng, 0.1, 0.15),
    )
    camera = CameraParams(
        lookat=lookat,
        distance=uniform(rng, 1.1, 1.45),
        azimuth=uniform(rng, -135.0, 135.0),
        elevation=uniform(rng, 25.0, 60.0),
        fovy=uniform(rng, 40.0, 52.0),
    )
    light_dir = np.array([uniform(rng, -0.6, 0.6), uniform(rng, -0.6, 0.6), -1.0])
    light = LightParams(
        direction=rounded(light_dir / np.linalg.norm(light_dir)),
        diffuse=uniform(rng, 0.5, 0.9),
        ambient=uniform(rng, 0.15, 0.35),
    )
    wood = np.array([0.55, 0.38, 0.22]) * uniform(rng, 0.8, 1.15)
    grey = uniform(rng, 0.3, 0.6)
    scene = ObjectsParams(
        surface="table",
        table=(hx, hy, top),
        table_rgb=rounded(np.clip(wood, 0, 1)),
        floor_rgb=rounded(np.clip(np.full(3, grey) + rng.uniform(-0.05, 0.05, 3), 0, 1)),
        objects=tuple(objects),
        camera=camera,
        light=light,
        timestep=TIMESTEP,
        substeps=SUBSTEPS,
        fps=FPS,
    )
    return scene, arm


def _sample_object(
    rng: np.random.Generator,
    color: str,
    base: tuple[float, float, float],
    table: tuple[float, float, float],
    placed: list[tuple[np.ndarray, float]],
) -> ObjectParams | None:
    """One resting object in front of the arm, on the table and clear of `placed`; None if no room."""
    shape = str(rng.choice(SHAPES, p=[0.45, 0.3, 0.25]))
    if shape == "box":
        size: tuple[float, ...] = (
            uniform(rng, 0.025, 0.045),
            uniform(rng, 0.025, 0.045),
            uniform(rng, 0.025, 0.05),
        )
    elif shape == "cylinder":
        size = (uniform(rng, 0.025, 0.04), uniform(rng, 0.03, 0.06))
    else:
        size = (uniform(rng, 0.03, 0.045),)
    radius = float(np.hypot(size[0], size[1])) if shape == "box" else size[0]
    hx, hy, top = table
    for _ in range(100):
        xy = polar(base, rng.uniform(0.22, 0.42), rng.uniform(-1.0, 1.0))
        inside = abs(xy[0]) < hx - radius - 0.04 and abs(xy[1]) < hy - radius - 0.04
        if inside and all(np.linalg.norm(xy - p) > radius + r + 0.05 for p, r in placed):
            break
    else:
        return None
    yaw = rng.uniform(0.0, 2 * math.pi) if shape == "box" else 0.0
    lift = size[2] if shape == "box" else size[1] if shape == "cylinder" else size[0]
    return ObjectParams(
        shape=shape,
        color=color,
        rgb=PALETTE[color],
        size=size,
        mass=uniform(rng, 0.1, 0.8),
        friction=(uniform(rng, 0.3, 0.8), 0.005, 0.002),
        damping=uniform(rng, 0.7, 1.0),
        motion="rest",
        pos=rounded([xy[0], xy[1], top + lift + 0.001]),
        quat=rounded([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]),
        linvel=(0.0, 0.0, 0.0),
        angvel=(0.0, 0.0, 0.0),
    )


def footprint_radius(obj: ObjectParams | dict[str, Any]) -> float:
    """Radius (m) of the circle around an object's footprint on the table (box: half-diagonal)."""
    shape, size = (obj.shape, obj.size) if isinstance(obj, ObjectParams) else (obj["shape"], obj["size"])
    return float(np.hypot(size[0], size[1])) if shape == "box" else float(size[0])


def polar(base: tuple[float, ...] | np.ndarray, radius: float, azimuth: float) -> np.ndarray:
    """(x, y) at `radius` m from the arm's yaw axis, `azimuth` rad counter-clockwise from +x."""
    return np.array([base[0] + radius * math.cos(azimuth), base[1] + radius * math.sin(azimuth)])


# ----------------------------------------------------------------------------------------------
# Kinematics


def inverse_kinematics(base: tuple[float, ...] | np.ndarray, target: np.ndarray) -> np.ndarray:
    """Joint angles (4,) rad that put the end-effector at `target` (x, y, z) with the pusher vertical.

    Elbow-forward solution; targets out of reach give the closest pose along the same line from the
    shoulder. Angles are clipped to `JOINT_RANGE`.
    """
    dx, dy = target[0] - base[0], target[1] - base[1]
    yaw = math.atan2(dy, dx)
    r = math.hypot(dx, dy)
    h = target[2] + L_HAND - (base[2] + SHOULDER_H)  # wrist height above the shoulder
    d = min(max(math.hypot(r, h), abs(L_UPPER - L_FORE) + 1e-3, 0.08), L_UPPER + L_FORE - 1e-6)
    cos_elbow = (d * d - L_UPPER**2 - L_FORE**2) / (2 * L_UPPER * L_FORE)
    elbow = math.acos(min(1.0, max(-1.0, cos_elbow)))
    shoulder = math.atan2(r, h) - math.atan2(L_FORE * math.sin(elbow), L_UPPER + L_FORE * math.cos(elbow))
    q = np.array([yaw, shoulder, elbow, math.pi - shoulder - elbow])
    return np.clip(q, *np.array(JOINT_RANGE).T)


def forward_kinematics(base: tuple[float, ...] | np.ndarray, q: np.ndarray) -> np.ndarray:
    """End-effector position (3,) in metres for joint angles `q` (4,); inverts `inverse_kinematics`."""
    a1, a2, a3 = q[1], q[1] + q[2], q[1] + q[2] + q[3]  # link angles from vertical
    r = L_UPPER * math.sin(a1) + L_FORE * math.sin(a2) + L_HAND * math.sin(a3)
    z = base[2] + SHOULDER_H + L_UPPER * math.cos(a1) + L_FORE * math.cos(a2) + L_HAND * math.cos(a3)
    return np.array([base[0] + r * math.cos(q[0]), base[1] + r * math.sin(q[0]), z])


# ----------------------------------------------------------------------------------------------
# Model


def build_robot_mjcf(scene: ObjectsParams, arm: ArmParams) -> str:
    """MJCF of the `objects` scene `scene` with the arm, its servos and an end-effector site added.

    Arm geoms are named "arm_*" and its bodies "arm_*"; the end-effector site is "ee".
    """
    xml = build_mjcf(scene)
    head, sep, tail = xml.rpartition("</worldbody>")
    if not sep:
        raise ConfigError("objects.build_mjcf returned MJCF without a </worldbody> to add the arm to")

    def f(values: tuple[float, ...] | np.ndarray) -> str:
        return " ".join(f"{float(v):.6g}" for v in values)

    rgba = f"{f(arm.rgb)} 1"
    dark = f"{f(np.array(arm.rgb) * 0.45)} 1"  # joint housings, a darker shade of the arm colour
    # contype 2 / conaffinity 1: arm geoms touch everything else (contype 1, conaffinity 1) but never
    # each other. gravcomp: the servos only fight inertia and contacts, not the arm's weight.
    g = 'contype="2" conaffinity="1" condim="3" friction="0.6 0.005 0.0001" density="400"'
    # MJCF joint ranges are in degrees (the compiler default, which objects.build_mjcf keeps); servo
    # control ranges are in the joint's own units (radians).
    ranges = [f"{math.degrees(lo):.8g} {math.degrees(hi):.8g}" for lo, hi in JOINT_RANGE]
    ctrl_ranges = [f"{lo:.6g} {hi:.6g}" for lo, hi in JOINT_RANGE]
    turret_h = SHOULDER_H - PEDESTAL_H
    pad_z = L_HAND - PAD[2]
    arm_xml = f"""    <body name="arm_base" pos="{f(arm.base)}">
      <geom name="arm_pedestal" type="cylinder" size="0.07 {PEDESTAL_H / 2:.6g}"
        pos="0 0 {PEDESTAL_H / 2:.6g}" rgba="{dark}" {g}/>
      <body name="arm_turret" pos="0 0 {PEDESTAL_H:.6g}" gravcomp="1">
        <joint name="yaw" axis="0 0 1" range="{ranges[0]}" damping="0.5" armature="0.02"/>
        <geom name="arm_turret" type="cylinder" size="0.045 {turret_h / 2:.6g}"
          pos="0 0 {turret_h / 2:.6g}" rgba="{rgba}" {g}/>
        <body name="arm_upper" pos="0 0 {turret_h:.6g}" gravcomp="1">
          <joint name="shoulder" axis="0 1 0" range="{ranges[1]}" damping="0.5" armature="0.02"/>
          <geom name="arm_shoulder" type="cylinder" size="0.04 0.045" zaxis="0 1 0" rgba="{dark}" {g}/>
          <geom name="arm_upper" type="capsule" fromto="0 0 0 0 0 {L_UPPER:.6g}" size="0.028"
            rgba="{rgba}" {g}/>
          <body name="arm_fore" pos="0 0 {L_UPPER:.6g}" gravcomp="1">
            <joint name="elbow" axis="0 1 0" range="{ranges[2]}" damping="0.3" armature="0.01"/>
            <geom name="arm_elbow" type="cylinder" size="0.032 0.036" zaxis="0 1 0" rgba="{dark}" {g}/>
            <geom name="arm_fore" type="capsule" fromto="0 0 0 0 0 {L_FORE:.6g}" size="0.022"
              rgba="{rgba}" {g}/>
            <body name="arm_hand" pos="0 0 {L_FORE:.6g}" gravcomp="1">
              <joint name="wrist" axis="0 1 0" range="{ranges[3]}" damping="0.1" armature="0.005"/>
              <geom name="arm_wrist" type="cylinder" size="0.024 0.028" zaxis="0 1 0" rgba="{dark}" {g}/>
              <geom name="arm_hand" type="capsule" fromto="0 0 0 0 0 {pad_z - 0.01:.6g}" size="0.016"
                rgba="{rgba}" {g}/>
              <geom name="arm_pusher" type="box" size="{f(PAD)}" pos="0 0 {pad_z:.6g}" rgba="{dark}" {g}/>
              <site name="ee" pos="0 0 {L_HAND:.6g}" size="0.005"/>
            </body>
          </body>
        </body>
      </body>
    </body>
"""
    actuators = "\n".join(
        f'    <position name="{j}" joint="{j}" kp="{kp:.6g}" dampratio="1" ctrlrange="{r}"'
        f' forcerange="{-t:.6g} {t:.6g}"/>'
        for j, kp, t, r in zip(JOINTS, KP, TORQUE, ctrl_ranges, strict=True)
    )
    body, end, rest = tail.rpartition("</mujoco>")
    return f"{head}{arm_xml}  {sep}{body}  <actuator>\n{actuators}\n  </actuator>\n{end}{rest}"


def arm_params_from_json(data: dict[str, Any]) -> ArmParams:
    """Inverse of `dataclasses.asdict(ArmParams)` (also after a JSON round trip)."""
    return ArmParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def arm_params_to_json(arm: ArmParams) -> dict[str, Any]:
    return asdict(arm)
