"""Scripted, noisy policies of the `robot` scenario, and the mapping from actions to servo targets.

Action space: a (4,) float32 vector in [-1, 1], one per joint (`robot_scene.JOINTS`). Action a_j is a
joint velocity command: between frame t and t + 1 the position target of joint j moves by
`a_j * MAX_SPEED[j] / fps` radians (clipped to the joint range), linearly over the physics substeps,
and the joint's position servo follows it (`apply_action`).

Policies, one drawn per episode; each follows end-effector waypoints through inverse kinematics:
    reach:   move the pusher next to a target object, to touch it ("touch") or stop beside or short of
             it ("miss"), wait, maybe pull back;
    push:    hover behind the object, lower the pusher to the table and push through it along a
             direction for a distance, maybe lift; "miss" variants pass beside it;
    explore: wander through random waypoints over the table, some low enough to sweep into objects.
Every action gets per-step Gaussian noise plus Ornstein-Uhlenbeck (smooth, correlated) noise, larger
for explore, so that across a dataset each action dimension covers [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from worldfm.errors import ConfigError
from worldfm.sim.objects import ObjectParams, ObjectsParams
from worldfm.sim.robot_scene import (
    JOINT_RANGE,
    JOINTS,
    PAD,
    ArmParams,
    footprint_radius,
    forward_kinematics,
    inverse_kinematics,
    polar,
)
from worldfm.sim.sampling import rounded, uniform

POLICIES = ("reach", "push", "explore")
INTENTS = ("touch", "miss", "")
MAX_SPEED = (2.0, 2.0, 2.5, 3.0)  # rad/s of each joint's position target at action +-1
REACH = (0.14, 0.47)  # m, radial range from the yaw axis in which the pusher works at table height
MAX_AZIMUTH = 1.6  # rad, waypoints stay within this angle of +x around the arm's base


@dataclass(frozen=True)
class PolicyParams:
    """A scripted policy: waypoint path plus noise (JSON-serialisable through `dataclasses.asdict`).

    kind: "reach", "push" or "explore"; target: index of the object it goes for (-1 for explore);
    intent: "touch" or "miss" for reach / push, "" for explore (what it tries; captions report what
        actually happened).
    waypoints: end-effector positions (x, y, z) in metres, visited in order from the start pose;
    speeds: m/s along the straight segment into each waypoint; holds: seconds waited at each.
    noise: std of the per-step Gaussian action noise; ou_theta (per frame) and ou_sigma: mean reversion
        and step std of the Ornstein-Uhlenbeck action noise; noise_seed seeds both.
    push_dir: unit (x, y) direction of a push, push_dist: planned displacement (m); zeros otherwise.
    """

    kind: str
    target: int
    intent: str
    waypoints: tuple[tuple[float, float, float], ...]
    speeds: tuple[float, ...]
    holds: tuple[float, ...]
    noise: float
    ou_theta: float
    ou_sigma: float
    noise_seed: int
    push_dir: tuple[float, float] = (0.0, 0.0)
    push_dist: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in POLICIES:
            raise ConfigError(f"policy kind must be one of {POLICIES}, got {self.kind!r}")
        if self.intent not in INTENTS:
            raise ConfigError(f"policy intent must be one of {INTENTS}, got {self.intent!r}")
        if (self.kind == "explore") != (self.target < 0):
            raise ConfigError(f"only explore policies have no target object, got {self.kind} {self.target}")
        if not self.waypoints or not len(self.waypoints) == len(self.speeds) == len(self.holds):
            raise ConfigError(
                f"need one speed and hold per waypoint, got {len(self.waypoints)} waypoints,"
                f" {len(self.speeds)} speeds, {len(self.holds)} holds"
            )
        if min(self.speeds) <= 0 or min(self.holds) < 0:
            raise ConfigError(f"speeds must be positive and holds >= 0, got {self.speeds}, {self.holds}")
        if self.noise < 0 or self.ou_sigma < 0 or not 0 <= self.ou_theta <= 1:
            raise ConfigError(
                f"noise and ou_sigma must be >= 0 and ou_theta in [0, 1], got"
                f" {self.noise}, {self.ou_sigma}, {self.ou_theta}"
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicyParams:
        """Inverse of `to_json` (also after a JSON round trip, with lists for tuples)."""
        d = dict(data)
        d["waypoints"] = tuple(tuple(w) for w in d["waypoints"])
        for k in ("speeds", "holds", "push_dir"):
            d[k] = tuple(d[k])
        return cls(**d)


def apply_action(q_cmd: np.ndarray, action: np.ndarray, fps: float) -> np.ndarray:
    """New joint position targets (4,) rad after `action` (4,) in [-1, 1] is held for one frame."""
    lo, hi = np.array(JOINT_RANGE).T
    return np.clip(q_cmd + np.asarray(action, np.float64) * np.array(MAX_SPEED) / fps, lo, hi)


class ScriptedPolicy:
    """Follows `params.waypoints` at their speeds and adds noise; call once per frame, in order."""

    def __init__(self, params: PolicyParams, arm: ArmParams, fps: float) -> None:
        self.params, self.base, self.fps = params, arm.base, fps
        self.rng = np.random.default_rng(params.noise_seed)
        self.ou = np.zeros(len(JOINTS))
        # Piecewise-linear reference path: (start time, end time, start point, end point) per move,
        # followed by its hold (a zero-length move).
        self.moves: list[tuple[float, float, np.ndarray, np.ndarray]] = []
        t, p = 0.0, forward_kinematics(arm.base, np.array(arm.q0))
        for w, speed, hold in zip(params.waypoints, params.speeds, params.holds, strict=True):
            w = np.array(w)
            dt = float(np.linalg.norm(w - p)) / speed
            self.moves.append((t, t + dt, p, w))
            t, p = t + dt + hold, w
        self.end = p

    def reference(self, time: float) -> np.ndarray:
        """End-effector position (3,) the path asks for at `time` seconds."""
        for t0, t1, p0, p1 in self.moves:
            if time < t0:
                return p0
            if time < t1:
                return p0 + (p1 - p0) * (time - t0) / (t1 - t0)
        return self.end

    def __call__(self, t: int, q_cmd: np.ndarray) -> np.ndarray:
        """Action (4,) float32 in [-1, 1] for the step from frame `t` to `t + 1`, given the servo targets."""
        goal = inverse_kinematics(self.base, self.reference((t + 1) / self.fps))
        track = (goal - q_cmd) / (np.array(MAX_SPEED) / self.fps)
        p = self.params
        self.ou = self.ou * (1.0 - p.ou_theta) + p.ou_sigma * self.rng.normal(size=len(JOINTS))
        action = track + self.ou + p.noise * self.rng.normal(size=len(JOINTS))
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def policy_actions(params: PolicyParams, arm: ArmParams, fps: float, num_frames: int) -> np.ndarray:
    """The (num_frames - 1, 4) float32 actions in [-1, 1] of the scripted policy `params`.

    The policy plans on the servo targets, which the actions alone determine (`apply_action`), so
    its actions do not depend on the physics and can be rolled out before simulating.
    """
    policy = ScriptedPolicy(params, arm, fps)
    q_cmd = np.array(arm.q0, np.float64)
    out = np.empty((num_frames - 1, len(JOINTS)), np.float32)
    for t in range(num_frames - 1):
        out[t] = policy(t, q_cmd)
        q_cmd = apply_action(q_cmd, out[t], fps)
    return out


# ----------------------------------------------------------------------------------------------
# Sampling


def sample_policy(rng: np.random.Generator, scene: ObjectsParams, arm: ArmParams) -> PolicyParams:
    """Draw a policy for the scene: its kind, target, path and noise."""
    kind = str(rng.choice(POLICIES, p=[0.3, 0.45, 0.25]))
    target = int(rng.integers(len(scene.objects)))
    plan = None
    if kind == "push":
        plan = _push_plan(rng, scene, arm, target)
        kind = "push" if plan is not None else "reach"  # no reachable push direction: reach instead
    if kind == "reach":
        plan = _reach_plan(rng, scene, arm, target)
    if kind == "explore" or plan is None:
        kind, target, plan = "explore", -1, _explore_plan(rng, scene, arm)
    explore = kind == "explore"
    return PolicyParams(
        kind=kind,
        target=target,
        **plan,
        noise=uniform(rng, 0.1, 0.3) if explore else uniform(rng, 0.03, 0.2),
        ou_theta=uniform(rng, 0.1, 0.3),
        ou_sigma=uniform(rng, 0.15, 0.35) if explore else uniform(rng, 0.0, 0.08),
        noise_seed=int(rng.integers(2**31)),
    )


def _push_plan(
    rng: np.random.Generator, scene: ObjectsParams, arm: ArmParams, target: int
) -> dict[str, Any] | None:
    obj = scene.objects[target]
    top = scene.surface_z
    c = np.array(obj.pos[:2])
    radial = _unit(c - np.array(arm.base[:2]))
    intent = "miss" if rng.random() < 0.15 else "touch"
    for _ in range(50):
        angle = rng.uniform(-math.pi, math.pi)
        u = np.array([math.cos(angle), math.sin(angle)])
        side = np.array([-u[1], u[0]])
        dist = uniform(rng, 0.06, 0.2)
        gap = _extent(obj, u) + _pad_extent(radial, u)
        offset = np.zeros(2)
        if intent == "miss":  # pass beside the object, just clear of it
            clear = _extent(obj, side) + _pad_extent(radial, side) + rng.uniform(0.015, 0.04)
            offset = side * clear * rng.choice([-1.0, 1.0])
        start = c - u * (gap + uniform(rng, 0.02, 0.04)) + offset
        end = c + u * (dist - gap) + offset
        if _workable(arm, start) and _workable(arm, end) and _clear_of_others(scene, target, start):
            low, hover = top + uniform(rng, 0.006, 0.015), top + uniform(rng, 0.13, 0.18)
            waypoints = [(*start, hover), (*start, low), (*end, low)]
            speeds = [uniform(rng, 0.25, 0.7), uniform(rng, 0.15, 0.4), uniform(rng, 0.1, 0.3)]
            holds = [uniform(rng, 0.0, 0.2), uniform(rng, 0.0, 0.2), uniform(rng, 0.0, 0.4)]
            if rng.random() < 0.6:  # lift the pusher off afterwards
                waypoints.append((*end, top + uniform(rng, 0.08, 0.16)))
                speeds.append(uniform(rng, 0.2, 0.5))
                holds.append(0.0)
            return dict(
                intent=intent,
                waypoints=tuple(rounded(w) for w in waypoints),
                speeds=tuple(speeds),
                holds=tuple(holds),
                push_dir=rounded(u),
                push_dist=dist,
            )
    return None


def _reach_plan(
    rng: np.random.Generator, scene: ObjectsParams, arm: ArmParams, target: int
) -> dict[str, Any]:
    obj = scene.objects[target]
    top = scene.surface_z
    c = np.array(obj.pos[:2])
    radial = _unit(c - np.array(arm.base[:2]))
    side = np.array([-radial[1], radial[0]])
    gap = _extent(obj, radial) + PAD[0]
    intent = "miss" if rng.random() < 0.3 else "touch"
    if intent == "touch":  # up to 1.2 cm into the object: a firm touch
        point = c - radial * (gap - uniform(rng, 0.0, 0.012))
    elif rng.random() < 0.5:  # stop short of it
        point = c - radial * (gap + uniform(rng, 0.03, 0.07))
    else:  # end up beside it
        clear = _extent(obj, side) + PAD[1] + uniform(rng, 0.02, 0.05)
        point = c - radial * gap + side * clear * rng.choice([-1.0, 1.0])
    low = top + uniform(rng, 0.008, 0.025)
    before = point - radial * uniform(rng, 0.04, 0.08)
    waypoints = [(*before, low + uniform(rng, 0.04, 0.1)), (*point, low)]
    speeds = [uniform(rng, 0.25, 0.8), uniform(rng, 0.1, 0.3)]
    holds = [uniform(rng, 0.0, 0.15), uniform(rng, 0.2, 0.8)]
    if rng.random() < 0.5:  # pull back and up
        waypoints.append((*before, top + uniform(rng, 0.1, 0.2)))
        speeds.append(uniform(rng, 0.2, 0.6))
        holds.append(0.0)
    return dict(
        intent=intent,
        waypoints=tuple(rounded(w) for w in waypoints),
        speeds=tuple(speeds),
        holds=tuple(holds),
    )


def _explore_plan(rng: np.random.Generator, scene: ObjectsParams, arm: ArmParams) -> dict[str, Any]:
    top = scene.surface_z
    n = int(rng.integers(4, 9))
    waypoints = []
    for _ in range(n):
        xy = polar(arm.base, rng.uniform(*REACH), rng.uniform(-MAX_AZIMUTH, MAX_AZIMUTH))
        z = top + (uniform(rng, 0.005, 0.03) if rng.random() < 0.4 else uniform(rng, 0.03, 0.25))
        waypoints.append(rounded([*xy, z]))
    return dict(
        intent="",
        waypoints=tuple(waypoints),
        speeds=tuple(uniform(rng, 0.2, 1.0) for _ in range(n)),
        holds=tuple(uniform(rng, 0.0, 0.3) if rng.random() < 0.3 else 0.0 for _ in range(n)),
    )


def _extent(obj: ObjectParams, direction: np.ndarray) -> float:
    """Half-extent (m) of an object's footprint along a horizontal unit `direction`."""
    if obj.shape != "box":
        return float(obj.size[0])
    w, z = obj.quat[0], obj.quat[3]
    yaw = 2.0 * math.atan2(z, w)  # boxes are placed upright, turned about z only
    ex = np.array([math.cos(yaw), math.sin(yaw)])
    ey = np.array([-ex[1], ex[0]])
    return float(obj.size[0] * abs(direction @ ex) + obj.size[1] * abs(direction @ ey))


def _pad_extent(radial: np.ndarray, direction: np.ndarray) -> float:
    """Half-extent (m) of the pusher along `direction` when the arm points along `radial`."""
    side = np.array([-radial[1], radial[0]])
    return float(PAD[0] * abs(direction @ radial) + PAD[1] * abs(direction @ side))


def _workable(arm: ArmParams, xy: np.ndarray) -> bool:
    """Whether the pusher can work at table height at `xy`."""
    d = xy - np.array(arm.base[:2])
    return REACH[0] <= float(np.linalg.norm(d)) <= REACH[1] and abs(math.atan2(d[1], d[0])) <= MAX_AZIMUTH


def _clear_of_others(scene: ObjectsParams, target: int, xy: np.ndarray) -> bool:
    """Whether lowering the pusher at `xy` lands clear of every object but the target."""
    for i, o in enumerate(scene.objects):
        clear = footprint_radius(o) + float(np.hypot(*PAD[:2])) + 0.01
        if i != target and np.linalg.norm(xy - np.array(o.pos[:2])) < clear:
            return False
    return True


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)
