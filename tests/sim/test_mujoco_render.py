import mujoco
import numpy as np
import pytest

from worldfm.sim.mujoco_render import SceneRenderer

# A floor, a red sphere 1 m in front of a camera at the origin looking along +x, and a blue box.
XML = """
<mujoco>
  <statistic extent="2" center="0 0 0"/>
  <worldbody>
    <light pos="0 0 3" dir="0 0 -1" castshadow="true"/>
    <geom name="floor" type="plane" pos="0 0 -0.5" size="5 5 1" rgba="0.5 0.5 0.5 1"/>
    <body pos="1 0 0"><freejoint/><geom name="ball" type="sphere" size="0.1" rgba="1 0 0 1"/></body>
    <geom name="box" type="box" pos="1 0.3 0" size="0.05 0.05 0.05" rgba="0 0 1 1"/>
    <camera name="cam" pos="0 0 0" xyaxes="0 -1 0 0 0 1" fovy="60"/>
  </worldbody>
</mujoco>
"""


def instances(model: mujoco.MjModel) -> np.ndarray:
    """Instance 1 for the ball, 2 for the box, background for the floor."""
    ids = {"floor": 0, "ball": 1, "box": 2}
    return np.array(
        [ids[mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)] for g in range(model.ngeom)], np.int32
    )


@pytest.fixture
def scene() -> tuple[mujoco.MjModel, mujoco.MjData]:
    model = mujoco.MjModel.from_xml_string(XML)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    return model, data


def test_render_outputs_rgb_metric_depth_and_instances(scene) -> None:
    model, data = scene
    with SceneRenderer(model, 32, 48, "cam", instances(model)) as renderer:
        rgb, depth, seg = renderer.render(data)
    assert rgb.shape == (32, 48, 3) and rgb.dtype == np.uint8
    assert depth.shape == (32, 48) and depth.dtype == np.float32
    assert seg.shape == (32, 48) and seg.dtype == np.int32
    # Centre pixel: the sphere's front surface, 1 m - 0.1 m away along the optical axis.
    assert seg[16, 24] == 1
    assert depth[16, 24] == pytest.approx(0.9, abs=0.01)
    assert rgb[16, 24, 0] > 100 and rgb[16, 24, 2] < 60
    # The box is to the camera's right (+y world is left), so it appears in the left half.
    cols = np.nonzero(seg == 2)[1]
    assert len(cols) and cols.max() < 24
    assert set(np.unique(seg)) == {0, 1, 2}
    assert np.isfinite(depth).all() and (depth > 0).all()


def test_render_matches_mujoco_renderer_three_pass_output(scene) -> None:
    model, data = scene
    geom_instance = instances(model)
    with SceneRenderer(model, 24, 24, "cam", geom_instance) as renderer:
        rgb, depth, seg = renderer.render(data)
    ref = mujoco.Renderer(model, 24, 24)
    try:
        ref.update_scene(data, camera="cam")
        ref_rgb = ref.render()
        ref.enable_depth_rendering()
        ref_depth = ref.render()
        ref.enable_segmentation_rendering()
        ref_ids = ref.render()
    finally:
        ref.close()
    np.testing.assert_array_equal(rgb, ref_rgb)
    np.testing.assert_array_equal(depth, ref_depth)
    ref_geom = np.where(ref_ids[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), ref_ids[..., 0], -1)
    np.testing.assert_array_equal(seg, np.concatenate([[0], geom_instance])[ref_geom + 1])


def test_shadows_off_and_framebuffer_fits(scene) -> None:
    model, _ = scene
    with SceneRenderer(model, 700, 20, "cam"):
        pass
    assert model.vis.quality.shadowsize == 0
    assert not model.light_castshadow.any()
    assert model.vis.global_.offheight >= 700 and model.vis.global_.offwidth >= 640


def test_camera_matrices(scene) -> None:
    model, data = scene
    with SceneRenderer(model, 32, 48, "cam") as renderer:
        k = renderer.intrinsics()
        pose = renderer.extrinsics(data)
    f = 16 / np.tan(np.deg2rad(30))
    np.testing.assert_allclose(k, [[f, 0, 24], [0, f, 16], [0, 0, 1]])
    # OpenCV convention: +z forward (world +x), +y down (world -z), +x right (world -y).
    np.testing.assert_allclose(pose[:3, :3], [[0, 0, 1], [-1, 0, 0], [0, -1, 0]], atol=1e-9)
    np.testing.assert_allclose(pose[:3, 3], 0, atol=1e-12)
    # Projecting the sphere centre with K and the inverse pose lands on the image centre.
    p_cam = np.linalg.inv(pose) @ np.array([1.0, 0, 0, 1])
    uv = (k @ p_cam[:3])[:2] / p_cam[2]
    np.testing.assert_allclose(uv, [24, 16])


def test_bad_arguments_and_use_after_close(scene) -> None:
    model, data = scene
    with pytest.raises(ValueError, match="camera 'nope' not found"):
        SceneRenderer(model, 16, 16, "nope")
    with pytest.raises(ValueError, match="geom_instance must have shape"):
        SceneRenderer(model, 16, 16, "cam", np.zeros(2, np.int32))
    renderer = SceneRenderer(model, 16, 16, 0)
    renderer.close()
    renderer.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        renderer.render(data)
