"""Offscreen MuJoCo rendering of RGB, metric depth and instance segmentation, with camera matrices.

Shared by every MuJoCo scenario. Shadows and reflections are switched off because the software
(llvmpipe) renderer otherwise spends most of each frame on the shadow map (3-10x slower).

Each `render` call updates the scene once and draws it twice: a lit pass for RGB and an
id-colour pass whose colour buffer gives segmentation and whose depth buffer gives depth (the
id-colour pass draws no skybox or overlays, so empty pixels read the far plane). That is the same
output as `mujoco.Renderer` in RGB, depth and segmentation modes, at two draws instead of three.
"""

from __future__ import annotations

import os

# EGL works headless with Mesa's llvmpipe; must be set before mujoco is imported.
os.environ.setdefault("MUJOCO_GL", "egl")
# llvmpipe's worker threads cost more in synchronisation than they save on small frames
# (64 px: ~1.1 ms vs ~1.8 ms a frame); one thread per process also scales best across processes.
# Only read when the first GL context is created, so it must be set before that; users can override.
os.environ.setdefault("LP_NUM_THREADS", "0")

import mujoco
import numpy as np

# MuJoCo cameras look down their local -z with +y up; OpenCV cameras look down +z with +y down.
_MJ_TO_CV = np.diag([1.0, -1.0, -1.0])
_GEOM = int(mujoco.mjtObj.mjOBJ_GEOM)
# Scene capacity: the model's geoms plus room for decor. mujoco.Renderer's fixed 10000 costs
# 15-60 ms of allocation per renderer, which dominated short episodes.
_GEOM_MARGIN = 64


def disable_shadows_and_reflections(model: mujoco.MjModel) -> None:
    """Turn off shadow maps and mirror reflections in place (big speed-up on CPU rendering)."""
    model.vis.quality.shadowsize = 0
    model.light_castshadow[:] = 0
    model.mat_reflectance[:] = 0


class SceneRenderer:
    """Renders one camera of a MuJoCo scene at a fixed square or rectangular size.

    `geom_instance` maps each geom id to an instance id (0 = background) so segmentation comes out
    as per-object labels rather than raw geom ids. Create one per episode and `close()` it (or use
    it as a context manager): it owns an OpenGL context.
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
        glob = model.vis.global_
        offwidth, offheight = max(glob.offwidth, width), max(glob.offheight, height)
        self.model, self.height, self.width = model, height, width
        self.camera = (
            camera
            if isinstance(camera, int)
            else mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera)
        )
        if not 0 <= self.camera < model.ncam:
            raise ValueError(f"camera {camera!r} not found in the model ({model.ncam} cameras)")
        if geom_instance is None:
            geom_instance = np.zeros(model.ngeom, np.int32)
        geom_instance = np.asarray(geom_instance, np.int32)
        if geom_instance.shape != (model.ngeom,):
            raise ValueError(f"geom_instance must have shape ({model.ngeom},), got {geom_instance.shape}")
        # Lookup table indexed by geom id + 1 so that "no geom" (-1) maps to background.
        self._seg_lut = np.concatenate([[0], geom_instance]).astype(np.int32)

        self._gl = mujoco.GLContext(width, height)
        self._gl.make_current()
        # An offscreen framebuffer of exactly the render size: clearing and resolving the default
        # 640x480 buffer costs more than drawing a 64 px frame. Afterwards the model keeps the
        # larger of its own size and ours, so other renderers of this model still fit.
        glob.offwidth, glob.offheight = width, height
        try:
            self._ctx: mujoco.MjrContext | None = mujoco.MjrContext(
                model, mujoco.mjtFontScale.mjFONTSCALE_100
            )
        finally:
            glob.offwidth, glob.offheight = offwidth, offheight
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._ctx)
        self._ctx.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scene = mujoco.MjvScene(model, maxgeom=2 * model.ngeom + _GEOM_MARGIN)
        self._option = mujoco.MjvOption()
        self._cam = mujoco.MjvCamera()
        self._cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._cam.fixedcamid = self.camera
        self._rect = mujoco.MjrRect(0, 0, width, height)
        # Reusable read-back buffers (OpenGL rows come bottom-up; flipped on return).
        self._rgb = np.empty((height, width, 3), np.uint8)
        self._ids = np.empty((height, width, 3), np.uint8)
        self._zbuf = np.empty((height, width), np.float32)
        # Reversed-Z depth-buffer value -> metric depth, as mujoco.Renderer computes it (float32 planes).
        extent = model.stat.extent
        znear = np.float32(model.vis.map.znear * extent)
        zfar = np.float32(model.vis.map.zfar * extent)
        c = -(zfar + znear) / (zfar - znear)
        d = -(np.float32(2) * zfar * znear) / (zfar - znear)
        self._c_coef = float(np.float32(-0.5) * c - np.float32(0.5))
        self._d_coef = float(np.float32(-0.5) * d)

    def render(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (rgb (H, W, 3) uint8, depth (H, W) float32 metres, instances (H, W) int32).

        Depth is distance along the camera axis, the far plane where nothing is drawn; instances
        are `geom_instance` labels, 0 for background and for non-geom pixels.
        """
        if self._ctx is None:
            raise RuntimeError("SceneRenderer.render called after close()")
        self._gl.make_current()
        scene, flags = self._scene, self._scene.flags
        mujoco.mjv_updateScene(
            self.model, data, self._option, None, self._cam, mujoco.mjtCatBit.mjCAT_ALL, scene
        )
        # Pass 1: lit colour image.
        mujoco.mjr_render(self._rect, scene, self._ctx)
        mujoco.mjr_readPixels(self._rgb, None, self._rect, self._ctx)
        # Pass 2: flat id colours (segid + 1 packed in RGB) plus the depth buffer.
        flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = 1
        flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 1
        try:
            mujoco.mjr_render(self._rect, scene, self._ctx)
            mujoco.mjr_readPixels(self._ids, self._zbuf, self._rect, self._ctx)
        finally:
            flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = 0
            flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 0

        rgb = self._rgb[::-1].copy()
        depth = (self._d_coef / (self._zbuf[::-1].astype(np.float64) + self._c_coef)).astype(np.float32)
        ids = self._ids[::-1].astype(np.int32)
        segid = ids[..., 0] | (ids[..., 1] << 8) | (ids[..., 2] << 16)  # 0 = nothing drawn
        # Scene geom segid -> model geom id (-1 for decor, sites, non-geom objects).
        seg_to_geom = np.full(scene.ngeom + 1, -1, np.int32)
        for g in scene.geoms[: scene.ngeom]:
            if g.segid >= 0 and g.objtype == _GEOM:
                seg_to_geom[g.segid + 1] = g.objid
        segid = np.minimum(segid, scene.ngeom)  # guard against stray colours
        return rgb, depth, self._seg_lut[seg_to_geom[segid] + 1]

    def intrinsics(self) -> np.ndarray:
        """(3, 3) float64 pinhole K for this camera's vertical field of view and render size."""
        fovy = np.deg2rad(self.model.cam_fovy[self.camera])
        f = 0.5 * self.height / np.tan(0.5 * fovy)
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])

    def extrinsics(self, data: mujoco.MjData) -> np.ndarray:
        """(4, 4) float64 camera-to-world transform in the OpenCV convention for the current state."""
        pose = np.eye(4)
        pose[:3, :3] = data.cam_xmat[self.camera].reshape(3, 3) @ _MJ_TO_CV
        pose[:3, 3] = data.cam_xpos[self.camera]
        return pose

    def close(self) -> None:
        """Free the OpenGL resources; safe to call more than once."""
        if self._ctx is not None:
            self._gl.make_current()
            self._ctx.free()
            self._ctx = None
            self._gl.free()

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
