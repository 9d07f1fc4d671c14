"""Offscreen MuJoCo rendering of RGB, metric depth and instance segmentation, with camera matrices.

Shared by every MuJoCo scenario. Shadows and reflections are switched off because the software
(llvmpipe) renderer otherwise spends most of each frame on the shadow map (3-10x slower).
"""

from __future__ import annotations

import os

# EGL works headless with Mesa's llvmpipe; must be set before mujoco is imported.
os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

# MuJoCo cameras look down their local -z with +y up; OpenCV cameras look down +z with +y down.
_MJ_TO_CV = np.diag([1.0, -1.0, -1.0])


def disable_shadows_and_reflections(model: mujoco.MjModel) -> None:
    """Turn off shadow maps and mirror reflections in place (big speed-up on CPU rendering)."""
    model.vis.quality.shadowsize = 0
    model.light_castshadow[:] = 0
    model.mat_reflectance[:] = 0


class SceneRenderer:
    """Renders one camera of a MuJoCo scene at a fixed square or rectangular size.

    `geom_instance` maps each geom id to an instance id (0 = background) so segmentation comes out
    as per-object labels rather than raw geom ids.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        height: int,
        width: int,
        camera: str | int,
        geom_instance: np.ndarray | None = None,
    ) -> None:
        disable_shadows_and_reflections(model)
        # The offscreen framebuffer must be at least the render size.
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        self.model, self.height, self.width = model, height, width
        self.camera = camera if isinstance(camera, int) else mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        if self.camera < 0:
            raise ValueError(f"camera {camera!r} not found in the model")
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        if geom_instance is None:
            geom_instance = np.zeros(model.ngeom, np.int32)
        # Lookup table indexed by geom id + 1 so that "no geom" (-1) maps to background.
        self._seg_lut = np.concatenate([[0], np.asarray(geom_instance, np.int32)])

    def render(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (rgb (H, W, 3) uint8, depth (H, W) float32 metres, instances (H, W) int32)."""
        r = self._renderer
        r.update_scene(data, camera=self.camera)
        rgb = r.render().copy()
        r.enable_depth_rendering()
        depth = r.render().astype(np.float32)
        r.disable_depth_rendering()
        r.enable_segmentation_rendering()
        seg = r.render()
        r.disable_segmentation_rendering()
        # seg[..., 0] is the object id, seg[..., 1] its type; only geoms carry instances.
        obj_id, obj_type = seg[..., 0], seg[..., 1]
        geom_id = np.where(obj_type == int(mujoco.mjtObj.mjOBJ_GEOM), obj_id, -1)
        return rgb, depth, self._seg_lut[geom_id + 1]

    def intrinsics(self) -> np.ndarray:
        """(3, 3) pinhole K for this camera's vertical field of view and render size."""
        fovy = np.deg2rad(self.model.cam_fovy[self.camera])
        f = 0.5 * self.height / np.tan(0.5 * fovy)
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])

    def extrinsics(self, data: mujoco.MjData) -> np.ndarray:
        """(4, 4) camera-to-world transform in the OpenCV convention for the current state."""
        pose = np.eye(4)
        pose[:3, :3] = data.cam_xmat[self.camera].reshape(3, 3) @ _MJ_TO_CV
        pose[:3, 3] = data.cam_xpos[self.camera]
        return pose

    def close(self) -> None:
        self._renderer.close()

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
