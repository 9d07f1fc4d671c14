"""MuJoCo scene of the `driving` scenario: a straight highway, roadside, and one mocap body per vehicle.

World frame as in `driving_traffic`: x along the road, y to the left, z up; lane k is centred on
y = -4 k. No physics runs in MuJoCo: vehicles are mocap bodies posed from the traffic simulation
each frame, and the camera rides on the ego's body (a chase camera behind and above it, or a
dash camera at its front), so rendering gives true depth and per-vehicle instance masks.

Speed (llvmpipe, software OpenGL): every drawn geom costs tens of microseconds per pass whatever
its size, so small geoms far ahead of or behind the camera are hidden each frame (`set_poses`).
There are no textures: uploading one (a skybox) costs 0.1-0.2 s for every new GL context, i.e.
every episode; the sky is a few flat emissive bands on a body that keeps ahead of the ego instead.
Multisampling is off (4x MSAA doubles the draw time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import mujoco
import numpy as np

from worldfm.sim.driving_traffic import LANE_WIDTH, VehicleSpec

VIEWS = ("chase", "dash")
SHOULDER = 2.5  # m of asphalt outside the edge lines
DASH_LENGTH, DASH_PERIOD = 3.0, 12.0  # m, lane-divider dashes
SCENE_BEHIND = 80.0  # m of road built behind the ego's first position
EXTENT = 100.0  # MuJoCo scales znear/zfar by the model extent: near plane 0.1 m, far plane 600 m
FAR_PLANE = 6.0 * EXTENT  # m; depth of pixels that see nothing (the sky reads this too)
# The sky: vertical bands this far ahead of the ego (inside the far plane even from 10 m behind the
# ego), wide and high enough to fill a 75 degree view; the road reaches it. Band tops in metres;
# colours blend from the horizon colour (first band) to the zenith colour (last).
SKY_DISTANCE, SKY_HALF_WIDTH = 575.0, 700.0
SKY_BANDS = (12.0, 35.0, 75.0, 150.0, 500.0)
SCENE_AHEAD = SKY_DISTANCE + 10.0  # m of road built beyond the ego's last position
HEADLIGHT_DIFFUSE = 0.25
GLASS, TYRE, TAIL_LIGHT = (0.12, 0.15, 0.2), (0.05, 0.05, 0.05), (0.8, 0.05, 0.05)


@dataclass(frozen=True)
class SceneStyle:
    """Colours (RGB in [0, 1]), sun direction (unit vector it shines along) and roadside choices."""

    asphalt: tuple[float, float, float]
    grass: tuple[float, float, float]
    sky_top: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    sun_dir: tuple[float, float, float]
    sun: float
    ambient: float
    barrier: bool
    tree_spacing: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> SceneStyle:
        grey = float(rng.uniform(0.22, 0.38))
        elev, azim = np.deg2rad(rng.uniform(25.0, 75.0)), rng.uniform(0.0, 2.0 * np.pi)
        sun_dir = -np.array([np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)])
        return cls(
            asphalt=_round((grey, grey, grey * 1.03)),
            grass=_round((rng.uniform(0.15, 0.35), rng.uniform(0.35, 0.55), rng.uniform(0.08, 0.2))),
            sky_top=_round((rng.uniform(0.2, 0.4), rng.uniform(0.4, 0.6), rng.uniform(0.75, 0.95))),
            sky_horizon=_round((rng.uniform(0.7, 0.9), rng.uniform(0.8, 0.92), rng.uniform(0.9, 1.0))),
            sun_dir=_round(sun_dir),
            sun=round(float(rng.uniform(0.45, 0.75)), 3),
            ambient=round(float(rng.uniform(0.3, 0.45)), 3),
            barrier=bool(rng.random() < 0.6),
            tree_spacing=round(float(rng.uniform(12.0, 40.0)), 2),
        )

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class CameraRig:
    """Camera on the ego body: `offset` (m, + forward), `height` (m), `pitch_deg` down, vertical `fovy_deg`."""

    view: str
    offset: float
    height: float
    pitch_deg: float
    fovy_deg: float

    @classmethod
    def sample(cls, rng: np.random.Generator, view: str, ego_length: float) -> CameraRig:
        if view == "chase":
            return cls(
                view,
                offset=round(-float(rng.uniform(6.5, 9.5)), 3),
                height=round(float(rng.uniform(2.6, 3.8)), 3),
                pitch_deg=round(float(rng.uniform(7.0, 14.0)), 3),
                fovy_deg=round(float(rng.uniform(55.0, 72.0)), 3),
            )
        if view == "dash":
            return cls(
                view,
                offset=round(0.5 * ego_length - 0.3, 3),
                height=round(float(rng.uniform(1.3, 1.5)), 3),
                pitch_deg=round(float(rng.uniform(1.0, 5.0)), 3),
                fovy_deg=round(float(rng.uniform(50.0, 70.0)), 3),
            )
        raise ValueError(f"unknown camera view {view!r}; expected one of {VIEWS}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# Culling. Every drawn geom costs tens of microseconds per pass in llvmpipe whatever its size, so
# small geoms are hidden where they cannot show: outside the camera's horizontal field of view, or
# so far ahead that their characteristic size (metres, by material) projects to under a pixel
# (that distance grows with the image size: ~33 m for lane dashes at 64 px, ~133 m at 256 px).
FEATURE_SIZE = {
    "marking": 0.6,  # a 3 m dash seen lengthwise from 1.3-3.8 m up
    "trunk": 1.0,  # a 0.4 m wide, 2-3.5 m tall line
    "taillight": 0.3,
    "glass": 0.8,
    "tyre": 0.8,
    "crown": 5.0,  # 2.8-6 m wide, standing out against the sky
}
FEATURE_SIZE_DEFAULT = 2.5  # vehicle bodies
CULL_MARGIN = 1.0  # m added to every bounding radius
NEVER_CULL_RADIUS = 100.0  # road, ground, edge lines, barriers and sky span the scene
HIDDEN_GROUP = 5  # a geom group MuJoCo's default visual options do not draw


@dataclass
class DrivingScene:
    """A compiled scene.

    model: the MuJoCo model (vehicle i is mocap body "vehicle{i}", the camera "cam" rides vehicle 0,
        the sky bands are mocap body "sky").
    geom_instance: (ngeom,) int32 render labels: geoms of vehicle i -> i + 1, road surface and
        markings -> `road_id` (= number of vehicles + 1), sky -> `sky_id` (= road_id + 1; callers
        turn it into background at the far plane), everything else (grass, barriers, trees) 0.
    The remaining fields drive the per-frame culling of small geoms (see `set_poses`): their ids,
    owning vehicle (-1: static), static xy, bounding radius (m), draw distance (m) and the tangent
    of the camera's widest horizontal half-angle.
    """

    model: mujoco.MjModel
    geom_instance: np.ndarray
    road_id: int
    sky_id: int
    mocap_ids: np.ndarray
    sky_mocap: int
    camera_id: int
    cull_ids: np.ndarray
    cull_vehicle: np.ndarray
    cull_xy: np.ndarray
    cull_radius: np.ndarray
    cull_ahead: np.ndarray
    tan_half_fov: float

    def set_poses(self, data: mujoco.MjData, poses: np.ndarray) -> None:
        """Place the vehicles, poses (1 + N, 3) world x, y, heading (ego first); run kinematics; cull.

        The sky keeps `SKY_DISTANCE` straight ahead of the ego. Small geoms wholly outside the
        camera's horizontal field of view (behind it included), or farther ahead than their size
        stays above a pixel (`FEATURE_SIZE`), are moved to a hidden geom group so the renderer
        skips them.
        """
        data.mocap_pos[self.mocap_ids, :2] = poses[:, :2]
        data.mocap_pos[self.mocap_ids, 2] = 0.0
        half = 0.5 * poses[:, 2]
        data.mocap_quat[self.mocap_ids] = np.stack(
            [np.cos(half), np.zeros_like(half), np.zeros_like(half), np.sin(half)], axis=1
        )
        # The sky turns with the ego, so its depth from the camera is the same whatever the heading.
        heading = poses[0, 2]
        data.mocap_pos[self.sky_mocap, :2] = poses[0, :2] + SKY_DISTANCE * np.array(
            [np.cos(heading), np.sin(heading)]
        )
        data.mocap_quat[self.sky_mocap] = data.mocap_quat[self.mocap_ids[0]]
        mujoco.mj_kinematics(self.model, data)
        mujoco.mj_camlight(self.model, data)
        # Bounding circles in the camera's horizontal frame (the camera turns with the ego).
        xy = np.where(
            (self.cull_vehicle >= 0)[:, None], poses[np.maximum(self.cull_vehicle, 0), :2], self.cull_xy
        )
        rel = xy - data.cam_xpos[self.camera_id, :2]
        c, s = np.cos(heading), np.sin(heading)
        ahead = rel[:, 0] * c + rel[:, 1] * s
        side = np.abs(rel[:, 1] * c - rel[:, 0] * s)
        r = self.cull_radius
        t = self.tan_half_fov
        visible = (
            (ahead > -r)
            & (ahead - r < self.cull_ahead)
            & ((side - t * ahead) / np.sqrt(1.0 + t * t) < r)  # within r of the view wedge
        )
        self.model.geom_group[self.cull_ids] = np.where(visible, 0, HIDDEN_GROUP)


def build_scene(
    lanes: int,
    x_span: tuple[float, float],
    specs: list[VehicleSpec],
    style: SceneStyle,
    rig: CameraRig,
    rng: np.random.Generator,
    pixels: int,
    drive_span: tuple[float, float] | None = None,
    extension_rng: np.random.Generator | None = None,
) -> DrivingScene:
    """Compile the road scene for vehicles `specs` (ego first) driving within x_span (m, world x),
    to be rendered `pixels` pixels high (sets how far small geoms stay drawn).

    drive_span: where the ego really drives, when that differs from the x_span the scenery is drawn
    for (a counterfactual replay builds the original episode's scene, so the frames before its branch
    stay identical). Road and roadside are extended to cover it, from `extension_rng`; the geoms of
    x_span come first and unchanged, so a drive_span within x_span gives the identical scene.
    """
    x0, x1 = x_span[0] - SCENE_BEHIND, x_span[1] + SCENE_AHEAD
    extensions = []
    if drive_span is not None:
        if extension_rng is None:
            raise ValueError("drive_span needs an extension_rng")
        far0, far1 = drive_span[0] - SCENE_BEHIND, drive_span[1] + SCENE_AHEAD
        extensions = [seg for seg in ((far0, x0), (x1, far1)) if seg[1] > seg[0]]
    xml = _scene_xml(lanes, (x0, x1), specs, style, rig, rng, extensions, extension_rng)
    model = mujoco.MjModel.from_xml_string(xml)
    body_ids = np.array([model.body(f"vehicle{i}").id for i in range(len(specs))])
    sky_body = model.body("sky").id
    road_id, sky_id = len(specs) + 1, len(specs) + 2
    geom_instance = np.zeros(model.ngeom, np.int32)
    vehicle_of_geom = np.full(model.ngeom, -1, np.int64)
    for i, body in enumerate(body_ids):
        geom_instance[model.geom_bodyid == body] = i + 1
        vehicle_of_geom[model.geom_bodyid == body] = i
    road_materials = [model.material(name).id for name in ("asphalt", "marking")]
    geom_instance[np.isin(model.geom_matid, road_materials) & (model.geom_bodyid == 0)] = road_id
    geom_instance[model.geom_bodyid == sky_body] = sky_id
    cull_ids = np.flatnonzero(model.geom_rbound < NEVER_CULL_RADIUS)
    vehicle = vehicle_of_geom[cull_ids]
    # Vehicle geoms move with their body: a circle around the body origin covering the footprint.
    half_diag = np.array([0.5 * np.hypot(s.length, s.width) for s in specs])
    radius = np.where(vehicle >= 0, half_diag[np.maximum(vehicle, 0)], model.geom_rbound[cull_ids])
    materials = [model.material(int(m)).name if m >= 0 else "" for m in model.geom_matid[cull_ids]]
    sizes = np.array(
        [FEATURE_SIZE.get("crown" if m.startswith("leaf") else m, FEATURE_SIZE_DEFAULT) for m in materials]
    )
    fovy = np.deg2rad(rig.fovy_deg)
    focal = 0.5 * pixels / np.tan(0.5 * fovy)  # pixels per metre at 1 m
    # Square images: the horizontal half-angle equals the vertical one on the optical axis; a pitched
    # camera sees wider at the top of the image, tan = t / (cos p - t sin p).
    t, pitch = np.tan(0.5 * fovy), np.deg2rad(rig.pitch_deg)
    return DrivingScene(
        model=model,
        geom_instance=geom_instance,
        road_id=road_id,
        sky_id=sky_id,
        mocap_ids=model.body_mocapid[body_ids].astype(np.int64),
        sky_mocap=int(model.body_mocapid[sky_body]),
        camera_id=model.camera("cam").id,
        cull_ids=cull_ids,
        cull_vehicle=vehicle,
        cull_xy=model.geom_pos[cull_ids, :2].copy(),
        cull_radius=radius + CULL_MARGIN,
        cull_ahead=focal * sizes,
        tan_half_fov=float(t / (np.cos(pitch) - t * np.sin(pitch))),
    )


def _scene_xml(
    lanes: int,
    x_range: tuple[float, float],
    specs: list[VehicleSpec],
    style: SceneStyle,
    rig: CameraRig,
    rng: np.random.Generator,
    extensions: Sequence[tuple[float, float]] = (),
    extension_rng: np.random.Generator | None = None,
) -> str:
    x0, x1 = x_range
    xc, half_x = 0.5 * (x0 + x1), 0.5 * (x1 - x0)
    y_left = 0.5 * LANE_WIDTH  # left edge line
    y_right = -(lanes - 0.5) * LANE_WIDTH  # right edge line
    yc, half_y = 0.5 * (y_left + y_right), 0.5 * (y_left - y_right) + SHOULDER
    materials = {
        "asphalt": style.asphalt,
        "grass": style.grass,
        "marking": (0.9, 0.9, 0.88),
        "barrier": (0.68, 0.68, 0.66),
        "trunk": (0.35, 0.25, 0.15),
        "glass": GLASS,
        "tyre": TYRE,
        "taillight": TAIL_LIGHT,
        **{f"leaf{k}": (0.1 + 0.06 * k, 0.35 + 0.07 * k, 0.1 + 0.02 * k) for k in range(4)},
    }
    for i, spec in enumerate(specs):
        materials[f"veh{i}"] = spec.rgb
        materials[f"veh{i}_box"] = tuple(0.75 * c + 0.25 for c in spec.rgb)  # truck cargo: a lighter shade
    geoms = [
        # Ground, road and markings are thin boxes layered a centimetre apart (no z-fighting).
        _box("grass", (xc, yc, -0.07), (half_x + 400.0, half_y + 400.0, 0.05)),
        _box("asphalt", (xc, yc, -0.05), (half_x, half_y, 0.05)),
    ]
    for y in (y_left, y_right):
        geoms.append(_box("marking", (xc, y, 0.005), (half_x, 0.1, 0.005)))
    dashes = np.arange(np.floor(x0 / DASH_PERIOD) * DASH_PERIOD, x1, DASH_PERIOD) + 0.5 * DASH_LENGTH
    for k in range(1, lanes):
        y = y_left - k * LANE_WIDTH
        geoms += [_box("marking", (x, y, 0.005), (0.5 * DASH_LENGTH, 0.075, 0.005)) for x in dashes]
    edge = half_y + 0.4
    if style.barrier:
        geoms += [_box("barrier", (xc, yc + s * edge, 0.4), (half_x, 0.2, 0.4)) for s in (-1, 1)]
    geoms += _trees(x_range, yc, edge, style.tree_spacing, rng)
    for seg in extensions:
        geoms += _extension(seg, x_range, lanes, (yc, half_y, edge), style, extension_rng)
    bodies = [_vehicle_body(i, spec, rig if i == 0 else None) for i, spec in enumerate(specs)]
    bodies.append(_sky_body(style, rig))
    sun = " ".join(f"{c:.4f}" for c in style.sun_dir)
    return f"""<mujoco model="driving">
  <statistic extent="{EXTENT}" center="0 0 0"/>
  <visual>
    <map znear="0.001" zfar="6"/>
    <headlight ambient="{style.ambient} {style.ambient} {style.ambient}" diffuse="{HEADLIGHT_DIFFUSE} {HEADLIGHT_DIFFUSE} {HEADLIGHT_DIFFUSE}" specular="0 0 0"/>
    <quality shadowsize="0" offsamples="0" numslices="12" numstacks="8"/>
  </visual>
  <default><geom contype="0" conaffinity="0"/></default>
  <asset>
{chr(10).join(_material(n, c) for n, c in materials.items())}
    <material name="sky" emission="1" specular="0" shininess="0" reflectance="0"/>
  </asset>
  <worldbody>
    <light directional="true" dir="{sun}" diffuse="{style.sun} {style.sun} {style.sun}" specular="0 0 0"
      castshadow="false"/>
{chr(10).join(geoms)}
{chr(10).join(bodies)}
  </worldbody>
</mujoco>"""


def _sky_body(style: SceneStyle, rig: CameraRig) -> str:
    """Vertical bands from below the ground to `SKY_BANDS[-1]` m up, blending from the horizon
    colour to the zenith colour; posed `SKY_DISTANCE` straight ahead of the ego, facing it.

    MuJoCo shades a geom as rgba * (emission + headlight ambient + sum of diffuse * cos(incidence)).
    With emission 1 that factor is at least 1, so dividing the wanted colour by it (for the ego
    heading along +x) gives an rgba in [0, 1] that renders as exactly that colour.
    """
    pitch = np.deg2rad(rig.pitch_deg)
    sun_on_panel = max(0.0, style.sun_dir[0])  # panel normal -x, light arrives along -sun_dir
    light = 1.0 + style.ambient + HEADLIGHT_DIFFUSE * np.cos(pitch) + style.sun * sun_on_panel
    geoms, bottom = [], -20.0
    for k, top in enumerate(SKY_BANDS):
        mix = k / (len(SKY_BANDS) - 1)
        rgb = [
            ((1 - mix) * h + mix * t) / light for h, t in zip(style.sky_horizon, style.sky_top, strict=True)
        ]
        geoms.append(
            f'      <geom type="box" size="1 {SKY_HALF_WIDTH} {(top - bottom) / 2:.3f}" '
            f'pos="0 0 {(top + bottom) / 2:.3f}" rgba="{_rgb(rgb)} 1" material="sky"/>'
        )
        bottom = top
    return '    <body name="sky" mocap="true">\n' + "\n".join(geoms) + "\n    </body>"


def _extension(
    seg: tuple[float, float],
    main: tuple[float, float],
    lanes: int,
    cross: tuple[float, float, float],
    style: SceneStyle,
    rng: np.random.Generator,
) -> list[str]:
    """Road, markings, barriers, grass and trees over `seg`, a stretch of x just before or after the
    `main` span: every geom abuts the main span's instead of overlapping it (coplanar overlaps would
    z-fight), and the dashes keep the main span's period. cross: (yc, half_y, edge) as in `_scene_xml`."""
    yc, half_y, edge = cross
    a, b = seg
    xc, half_x = 0.5 * (a + b), 0.5 * (b - a)
    y_left, y_right = 0.5 * LANE_WIDTH, -(lanes - 0.5) * LANE_WIDTH
    geoms = [_box("asphalt", (xc, yc, -0.05), (half_x, half_y, 0.05))]
    geoms += [_box("marking", (xc, y, 0.005), (half_x, 0.1, 0.005)) for y in (y_left, y_right)]
    # The main span's grass reaches 400 m beyond its ends.
    g0, g1 = (a - 400.0, main[0] - 400.0) if b <= main[0] else (main[1] + 400.0, b + 400.0)
    if g1 > g0:
        geoms.append(_box("grass", (0.5 * (g0 + g1), yc, -0.07), (0.5 * (g1 - g0), half_y + 400.0, 0.05)))
    # Dashes on the main span's grid, skipping those it drew itself (starts from its first grid point
    # up to its end).
    starts = np.arange(np.floor(a / DASH_PERIOD) * DASH_PERIOD, b, DASH_PERIOD)
    starts = starts[(starts < np.floor(main[0] / DASH_PERIOD) * DASH_PERIOD) | (starts >= main[1])]
    for k in range(1, lanes):
        y = y_left - k * LANE_WIDTH
        geoms += [
            _box("marking", (x + 0.5 * DASH_LENGTH, y, 0.005), (0.5 * DASH_LENGTH, 0.075, 0.005))
            for x in starts
        ]
    if style.barrier:
        geoms += [_box("barrier", (xc, yc + s * edge, 0.4), (half_x, 0.2, 0.4)) for s in (-1, 1)]
    return geoms + _trees(seg, yc, edge, style.tree_spacing, rng)


def _trees(
    x_range: tuple[float, float], yc: float, edge: float, spacing: float, rng: np.random.Generator
) -> list[str]:
    """Trees (trunk + crown) on both sides, 4-30 m beyond the road's edge, about `spacing` m apart."""
    geoms = []
    for side in (-1.0, 1.0):
        x = x_range[0] + rng.uniform(0.0, spacing)
        while x < x_range[1]:
            y = yc + side * (edge + rng.uniform(4.0, 30.0))
            h, r = rng.uniform(2.0, 3.5), rng.uniform(1.4, 3.0)
            geoms.append(
                f'    <geom type="cylinder" size="0.2 {h / 2:.3f}" pos="{x:.3f} {y:.3f} {h / 2:.3f}" material="trunk"/>'
            )
            geoms.append(
                f'    <geom type="ellipsoid" size="{r:.3f} {r:.3f} {1.3 * r:.3f}" pos="{x:.3f} {y:.3f} {h + r:.3f}" '
                f'material="leaf{rng.integers(4)}"/>'
            )
            x += spacing * rng.uniform(0.4, 1.6)
    return geoms


def _vehicle_body(i: int, spec: VehicleSpec, rig: CameraRig | None) -> str:
    """A box-shaped car (body, glass cabin, dark running gear, tail lights) or truck (cab, cargo box,
    windscreen, running gear, tail lights): few geoms, since each one costs a draw call."""
    length, width = spec.length, spec.width
    half_l, half_w = 0.5 * length, 0.5 * width
    if spec.kind == "truck":
        cargo = 0.5 * (length - 2.6)
        geoms = [
            _box(f"veh{i}", (half_l - 1.15, 0, 1.7), (1.15, half_w, 1.2)),
            _box(f"veh{i}_box", (-half_l + cargo, 0, 2.4), (cargo, half_w, 1.6)),
            _box("glass", (half_l + 0.01, 0, 2.3), (0.02, half_w - 0.15, 0.4)),
            _box("tyre", (0, 0, 0.5), (half_l - 0.6, half_w - 0.1, 0.5)),
        ]
        tail_z = 1.0
    else:
        geoms = [
            _box(f"veh{i}", (0, 0, 0.68), (half_l, half_w, 0.33)),
            _box("glass", (-0.06 * length, 0, 1.29), (0.27 * length, 0.44 * width, 0.28)),
            _box("tyre", (0, 0, 0.35), (0.42 * length, half_w - 0.05, 0.35)),
        ]
        tail_z = 0.85
    for s in (-1, 1):
        geoms.append(
            _box("taillight", (-half_l - 0.01, s * 0.7 * half_w, tail_z), (0.02, 0.16 * width, 0.07))
        )
    if rig is not None:
        pitch = np.deg2rad(rig.pitch_deg)
        # MuJoCo cameras look along their -z with +y up: forward (cos p, 0, -sin p), up (sin p, 0, cos p).
        geoms.append(
            f'    <camera name="cam" pos="{rig.offset} 0 {rig.height}" fovy="{rig.fovy_deg}" '
            f'xyaxes="0 -1 0 {np.sin(pitch):.6f} 0 {np.cos(pitch):.6f}"/>'
        )
    body = "\n".join(geoms)
    return f'    <body name="vehicle{i}" mocap="true">\n{body}\n    </body>'


def _box(material: str, pos: tuple[float, float, float], size: tuple[float, float, float]) -> str:
    p = " ".join(f"{v:.3f}" for v in pos)
    s = " ".join(f"{v:.4f}" for v in size)
    return f'    <geom type="box" size="{s}" pos="{p}" material="{material}"/>'


def _material(name: str, rgb: tuple[float, float, float]) -> str:
    return (
        f'    <material name="{name}" rgba="{_rgb(rgb)} 1" specular="0.1" shininess="0.1" reflectance="0"/>'
    )


def _rgb(c: tuple[float, float, float]) -> str:
    return " ".join(f"{float(v):.4f}" for v in c)


def _round(values: Any) -> tuple[float, ...]:
    return tuple(round(float(v), 4) for v in values)
