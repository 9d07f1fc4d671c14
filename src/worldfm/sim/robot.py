"""The `robot` scenario: a 4-DoF arm reaching for and pushing primitive objects on a table (MuJoCo).

A yaw / shoulder / elbow / wrist arm with a flat pusher (`robot_scene`) stands at the back edge of a
table with 1-3 resting boxes, cylinders and spheres of random colour, size, mass and friction, filmed
from a randomised camera under randomised light. A scripted policy drawn per episode (`robot_policy`:
reach, push or explore, each with Gaussian + Ornstein-Uhlenbeck action noise) drives it. Every random
choice is drawn from `seed` into `RobotParams` first; the episode is a pure function of those, so the
same seed gives the identical episode. The caption is measured from the simulation: which objects the
arm touched, how far and which way (as seen from the camera) they moved, whether they tipped over or
fell off the table.

Control runs at the frame rate (`robot_scene.FPS` = 10), with `robot_scene.SUBSTEPS` = 12 physics
steps of 1/120 s per frame.
Actions: (T - 1, 4) float32 in [-1, 1], names `ACTION_NAMES` (one per joint: yaw, shoulder, elbow,
wrist). Action t is applied between frame t and t + 1: joint j's position target moves by
a_j * MAX_SPEED[j] / FPS rad (MAX_SPEED = (2.0, 2.0, 2.5, 3.0) rad/s, also in `params["action_scale"]`),
ramped linearly over the substeps and clipped to the joint range; position servos follow the target.

States (float32, T frames, N objects):
    joint_pos (T, 4) rad and joint_vel (T, 4) rad/s of the arm joints; joint_target (T, 4) rad, the
        servo targets the actions integrate to;
    ee_pos (T, 3) end-effector (bottom centre of the pusher) position in metres, world frame (z up);
    object_pos (T, N, 3) m, object_quat (T, N, 4) (w, x, y, z), object_linvel (T, N, 3) m/s and
        object_angvel (T, N, 3) rad/s, world frame;
    object_contacts (T, N, N + 2): 1 where object i touched object j (columns < N), the table
        (column N) or the floor (column N + 1) since the previous frame (as in `objects`);
    arm_contacts (T, N): 1 where the arm touched object i since the previous frame.

Segmentation: objects are instances 1..N (in `object_*` order), the whole arm (pedestal, links and
pusher) is one instance N + 1, the table N + 2, the floor is background 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

from worldfm.errors import ConfigError
from worldfm.sim.episode import Camera, Episode
from worldfm.sim.mujoco_render import SceneRenderer
from worldfm.sim.objects import ObjectsParams
from worldfm.sim.registry import check_actions, check_episode_args
from worldfm.sim.robot_policy import MAX_SPEED, PolicyParams, apply_action, policy_actions, sample_policy
from worldfm.sim.robot_scene import (
    JOINTS,
    ArmParams,
    arm_params_from_json,
    arm_params_to_json,
    build_robot_mjcf,
    footprint_radius,
    sample_scene,
)

SCENARIO = "robot"
ACTION_NAMES = [f"{j}_velocity" for j in JOINTS]
MOVED = 0.02  # m: an object displaced less than this "stays still" / is only touched
TIPPED = 60.0  # degrees: an object whose up direction (in its own frame) turned this much tipped over


@dataclass(frozen=True)
class RobotParams:
    """Everything that defines a `robot` episode: the `objects` scene (table, resting objects, camera,
    light, timing), the arm and the policy. JSON-serialisable through `to_json`."""

    scene: ObjectsParams
    arm: ArmParams
    policy: PolicyParams

    def __post_init__(self) -> None:
        if self.scene.table is None:
            raise ConfigError("the robot scenario needs a table scene (surface 'table')")
        if self.policy.target >= len(self.scene.objects):
            raise ConfigError(
                f"policy target {self.policy.target} out of range for {len(self.scene.objects)} objects"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "scene": self.scene.to_json(),
            "arm": arm_params_to_json(self.arm),
            "policy": self.policy.to_json(),
            "action_scale": list(MAX_SPEED),  # rad/s of each joint target at action +-1
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RobotParams:
        """Inverse of `to_json` (also accepts its JSON round trip)."""
        return cls(
            scene=ObjectsParams.from_json(data["scene"]),
            arm=arm_params_from_json(data["arm"]),
            policy=PolicyParams.from_json(data["policy"]),
        )


def sample_params(seed: int) -> RobotParams:
    """Draw a scene, an arm and a policy from `seed` (deterministic)."""
    rng = np.random.default_rng(seed)
    scene, arm = sample_scene(rng)
    return RobotParams(scene=scene, arm=arm, policy=sample_policy(rng, scene, arm))


def generate(
    seed: int, num_frames: int = 32, size: int = 64, *, actions: np.ndarray | None = None
) -> Episode:
    """One `robot` episode: `num_frames` frames of `size` x `size` pixels at 10 fps, from `seed`.

    The same (seed, num_frames, size) gives a byte-identical episode; `Episode.params` holds the
    sampled `RobotParams` and `Episode.caption` describes what the arm did to the objects.
    actions: optional (num_frames - 1, 4) array in [-1, 1] replacing the scripted policy's: a
    counterfactual replay of the same scene (see `simulate`).
    """
    check_episode_args(num_frames, size)
    return simulate(sample_params(seed), num_frames=num_frames, size=size, seed=seed, actions=actions)


def simulate(
    params: RobotParams,
    num_frames: int = 32,
    size: int = 64,
    seed: int = -1,
    actions: np.ndarray | None = None,
) -> Episode:
    """Simulate and render `params` into an `Episode` (see the module docstring for its fields).

    actions: optional (num_frames - 1, 4) array in [-1, 1] that replaces the scripted policy's actions
        (`policy_actions`); an episode's recorded actions replay it exactly. `seed` is only recorded.
    """
    check_episode_args(num_frames, size)
    scene, arm = params.scene, params.arm
    if actions is None:
        actions = policy_actions(params.policy, arm, scene.fps, num_frames)
    actions = check_actions(actions, num_frames, len(JOINTS))
    model = mujoco.MjModel.from_xml_string(build_robot_mjcf(scene, arm))
    data = mujoco.MjData(model)
    n = len(scene.objects)

    def ids(kind: mujoco.mjtObj, names: list[str]) -> list[int]:
        return [mujoco.mj_name2id(model, kind, name) for name in names]

    joints = ids(mujoco.mjtObj.mjOBJ_JOINT, list(JOINTS))
    qadr, dadr = model.jnt_qposadr[joints], model.jnt_dofadr[joints]
    bodies = ids(mujoco.mjtObj.mjOBJ_BODY, [f"obj{i}" for i in range(n)])
    ee = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "ee")
    owner, geom_instance = _geom_labels(model, n)
    q_cmd = np.array(arm.q0, np.float64)
    data.qpos[qadr] = q_cmd
    data.ctrl[:] = q_cmd
    mujoco.mj_forward(model, data)

    t_count, substeps = num_frames, scene.substeps
    frames = np.empty((t_count, size, size, 3), np.uint8)
    depth = np.empty((t_count, size, size), np.float32)
    seg = np.empty((t_count, size, size), np.int32)
    extrinsics = np.empty((t_count, 4, 4))
    st = {
        "joint_pos": np.empty((t_count, 4)),
        "joint_vel": np.empty((t_count, 4)),
        "joint_target": np.empty((t_count, 4)),
        "ee_pos": np.empty((t_count, 3)),
        "object_pos": np.empty((t_count, n, 3)),
        "object_quat": np.empty((t_count, n, 4)),
        "object_linvel": np.empty((t_count, n, 3)),
        "object_angvel": np.empty((t_count, n, 3)),
    }
    contacts = np.zeros((t_count, n + 3, n + 3), bool)
    vel6 = np.zeros(6)

    with SceneRenderer(model, size, size, "cam", geom_instance) as renderer:
        intrinsics = renderer.intrinsics()
        for t in range(t_count):
            if t > 0:
                q_new = apply_action(q_cmd, actions[t - 1], scene.fps)
                ramp = q_cmd + np.outer(np.arange(1, substeps + 1) / substeps, q_new - q_cmd)
                pairs = []  # contacting geom pairs of every substep, marked once per frame (cheaper)
                for k in range(substeps):
                    data.ctrl[:] = ramp[k]
                    mujoco.mj_step(model, data)
                    if data.ncon:
                        pairs.append(data.contact.geom[: data.ncon].copy())
                _mark_contacts(pairs, owner, contacts[t])
                q_cmd = q_new
                # mj_step leaves positions and velocities derived from the state before its last
                # integration; recompute them so that poses, velocities and pixels match qpos.
                mujoco.mj_forward(model, data)
            st["joint_pos"][t], st["joint_vel"][t] = data.qpos[qadr], data.qvel[dadr]
            st["joint_target"][t] = q_cmd
            st["ee_pos"][t] = data.site_xpos[ee]
            for i, b in enumerate(bodies):
                mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, b, vel6, 0)
                st["object_angvel"][t, i], st["object_linvel"][t, i] = vel6[:3], vel6[3:]
            st["object_pos"][t], st["object_quat"][t] = data.xpos[bodies], data.xquat[bodies]
            frames[t], depth[t], seg[t] = renderer.render(data)
            extrinsics[t] = renderer.extrinsics(data)

    states = {k: v.astype(np.float32) for k, v in st.items()}
    states["object_contacts"] = contacts[:, :n, : n + 2].astype(np.float32)
    states["arm_contacts"] = contacts[:, :n, n + 2].astype(np.float32)
    instances: list[dict[str, Any]] = [
        {
            "id": i + 1,
            "name": f"obj{i}",
            "category": o.shape,
            "color": o.color,
            "rgb": list(o.rgb),
            "size": list(o.size),
            "mass": o.mass,
        }
        for i, o in enumerate(scene.objects)
    ]
    instances.append(
        {"id": n + 1, "name": "arm", "category": "robot_arm", "color": arm.color, "rgb": list(arm.rgb)}
    )
    instances.append(
        {"id": n + 2, "name": "table", "category": "table", "color": "brown", "rgb": list(scene.table_rgb)}
    )
    return Episode(
        frames=frames,
        depth=depth,
        segmentation=seg,
        states=states,
        actions=actions,
        action_names=list(ACTION_NAMES),
        camera=Camera(intrinsics=intrinsics, extrinsics=extrinsics),
        caption=describe(params, states, extrinsics[0]),
        instances=instances,
        scenario=SCENARIO,
        seed=int(seed),
        params=params.to_json(),
        fps=scene.fps,
    )


def _geom_labels(model: mujoco.MjModel, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per geom: contact owner (object i -> i, table -> n, floor -> n + 1, arm -> n + 2, else -1) and
    rendered instance id (objects 1..n, arm n + 1, table n + 2, floor background 0)."""
    owner = np.full(model.ngeom, -1, np.int64)
    instance = np.zeros(model.ngeom, np.int32)
    for g in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
        if name.startswith("obj"):
            owner[g], instance[g] = int(name[3:]), int(name[3:]) + 1
        elif name.startswith("arm_"):
            owner[g], instance[g] = n + 2, n + 1
        elif name.startswith("table"):
            owner[g], instance[g] = n, n + 2
        elif name == "floor":
            owner[g] = n + 1
    return owner, instance


def _mark_contacts(pairs: list[np.ndarray], owner: np.ndarray, out: np.ndarray) -> None:
    """Mark in `out` ((M, M) bool, symmetric) every owner pair among the (k, 2) geom-id arrays `pairs`."""
    if not pairs:
        return
    who = owner[np.concatenate(pairs)]  # (k, 2)
    who = who[(who >= 0).all(axis=1)]
    out[who[:, 0], who[:, 1]] = True
    out[who[:, 1], who[:, 0]] = True


# ----------------------------------------------------------------------------------------------
# Caption


def describe(params: RobotParams, states: dict[str, np.ndarray], cam_to_world: np.ndarray) -> str:
    """One sentence on what the arm did, measured from the states (as `simulate` records them).

    Directions are as seen from the camera (`cam_to_world`: (4, 4) OpenCV camera-to-world), e.g.
    "The grey arm reaches toward the red box and pushes it 12 cm to the left; the green sphere stays
    still."
    """
    scene, policy = params.scene, params.policy
    labels = [f"{o.color} {o.shape}" for o in scene.objects]
    outcome = [_outcome(params, states, i) for i in range(len(labels))]
    touched = states["arm_contacts"].any(axis=0)
    view = _view_axes(cam_to_world)

    def effect(i: int, name: str, bump: bool = False) -> str:
        kind, dist, disp = outcome[i]
        if kind == "fell":
            return f"pushes {name} off the table"
        if kind == "tipped":
            return f"knocks {name} over" if name == "it" else f"knocks over {name}"
        if kind == "moved":
            amount = f"{round(dist * 100)} cm {_direction(disp, view)}"
            return f"bumps into {name}, pushing it {amount}" if bump else f"pushes {name} {amount}"
        return f"brushes against {name}" if bump else f"touches {name}"

    arm = f"the {params.arm.color} arm"
    target = policy.target
    missed = target >= 0 and not touched[target] and _approached(params, states, target)
    if target >= 0 and touched[target]:
        verb = "reaches for" if policy.kind == "reach" else "reaches toward"
        main = f"{verb} the {labels[target]} and {effect(target, 'it')}"
    elif missed:
        main = (
            f"reaches for the {labels[target]} but misses it"
            if policy.kind == "reach"
            else f"tries to push the {labels[target]} but misses it"
        )
    else:
        main = _arm_motion(params, states, labels)
    # Other objects the arm touched, in the order it touched them. Without a target clause the first
    # one joins the arm's clause ("sweeps low over the table and bumps into the red box, ...").
    others = [i for i in range(len(labels)) if touched[i] and i != target]
    others.sort(key=lambda i: int(np.argmax(states["arm_contacts"][:, i] > 0)))
    bumps = [effect(i, "the " + labels[i], bump=True) for i in others]
    if bumps and not (target >= 0 and touched[target]):
        main = f"{main} and {bumps.pop(0)}"
    clauses = [f"{arm} {main}"] + [f"it also {b}" for b in bumps]
    # Objects set moving by another object, then the ones that never moved.
    contacts = states["object_contacts"] > 0
    still = []
    for i in range(len(labels)):
        if touched[i] or (missed and i == target and outcome[i][0] == "still"):
            continue
        if outcome[i][0] == "still":
            still.append(f"the {labels[i]}")
            continue
        movers = [
            k for k in range(len(labels)) if k != i and contacts[:, i, k].any() and outcome[k][0] != "still"
        ]
        if movers:
            clauses.append(f"the {labels[movers[0]]} {effect(i, 'the ' + labels[i])}")
        else:
            kind, dist, disp = outcome[i]
            verb = {"fell": "falls off the table", "tipped": "tips over"}.get(kind)
            clauses.append(
                f"the {labels[i]} {verb or f'moves {round(dist * 100)} cm {_direction(disp, view)}'}"
            )
    if still:
        names = still[0] if len(still) == 1 else ", ".join(still[:-1]) + " and " + still[-1]
        clauses.append(f"{names} {'stays' if len(still) == 1 else 'stay'} still")
    text = "; ".join(clauses)
    return text[0].upper() + text[1:] + "."


def _outcome(params: RobotParams, states: dict[str, np.ndarray], i: int) -> tuple[str, float, np.ndarray]:
    """What happened to object i: ("fell" | "tipped" | "moved" | "still", xy distance m, xy displacement)."""
    hx, hy, top = params.scene.table  # type: ignore[misc]
    pos, quat = states["object_pos"][:, i].astype(np.float64), states["object_quat"][:, i].astype(np.float64)
    disp = pos[-1, :2] - pos[0, :2]
    dist = float(np.linalg.norm(disp))
    if pos[-1, 2] < top - 0.01 or abs(pos[-1, 0]) > hx or abs(pos[-1, 1]) > hy:
        return "fell", dist, disp
    if params.scene.objects[i].shape != "sphere":
        up = []
        for q in (quat[0], quat[-1]):
            rot = np.zeros(9)
            mujoco.mju_quat2Mat(rot, q / np.linalg.norm(q))
            up.append(rot.reshape(3, 3)[2])  # world z in the body frame
        if np.degrees(np.arccos(np.clip(up[0] @ up[1], -1.0, 1.0))) > TIPPED:
            return "tipped", dist, disp
    return ("moved" if dist >= MOVED else "still"), dist, disp


def _approached(params: RobotParams, states: dict[str, np.ndarray], i: int) -> bool:
    """Whether the pusher came low and within 12 cm (horizontally) of object i's side."""
    obj = params.scene.objects[i]
    top = params.scene.surface_z
    ee = states["ee_pos"].astype(np.float64)
    gap = np.linalg.norm(ee[:, :2] - states["object_pos"][:, i, :2], axis=-1) - footprint_radius(obj)
    low = ee[:, 2] < top + 2 * (obj.pos[2] - top) + 0.05
    return bool((low & (gap < 0.12)).any())


def _arm_motion(params: RobotParams, states: dict[str, np.ndarray], labels: list[str]) -> str:
    """What the arm did when it did not reach its target: moved toward it, wandered or barely moved."""
    ee = states["ee_pos"].astype(np.float64)
    path = float(np.linalg.norm(np.diff(ee, axis=0), axis=-1).sum())
    target = params.policy.target
    if target >= 0:
        gap = np.linalg.norm(ee[:, :2] - states["object_pos"][:, target, :2], axis=-1)
        if gap[0] - gap[-1] > 0.03:
            return f"moves toward the {labels[target]}"
    if path < 0.03:
        return "barely moves"
    low = bool((ee[:, 2] < params.scene.surface_z + 0.04).any())
    return "sweeps low over the table" if low else "moves around above the table"


def _view_axes(cam_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit horizontal (x, y) vectors of the camera's right and forward directions."""
    right, forward = cam_to_world[:2, 0], cam_to_world[:2, 2]
    right = right / max(float(np.linalg.norm(right)), 1e-9)
    # Looking straight down, forward has no horizontal part: "up" in the image (-y) stands in for it.
    if np.linalg.norm(forward) < 1e-3:
        forward = -cam_to_world[:2, 1]
    return right, forward / max(float(np.linalg.norm(forward)), 1e-9)


def _direction(disp: np.ndarray, view: tuple[np.ndarray, np.ndarray]) -> str:
    """'to the left', 'away from the camera', 'to the right and toward the camera', ... for an xy move."""
    x, y = float(disp @ view[0]), float(disp @ view[1])
    parts = []
    if abs(x) >= 0.4142 * abs(y):  # within 67.5 degrees of the image's horizontal
        parts.append("to the right" if x > 0 else "to the left")
    if abs(y) >= 0.4142 * abs(x):
        parts.append("away from the camera" if y > 0 else "toward the camera")
    return " and ".join(parts)
