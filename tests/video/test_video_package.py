"""worldfm.video exports its public API lazily: every name resolves, and video I/O alone skips torch."""

import subprocess
import sys

import worldfm.video


def test_every_exported_name_resolves() -> None:
    for name in worldfm.video.__all__:
        assert getattr(worldfm.video, name).__name__ == name


def test_video_io_does_not_import_torch() -> None:
    code = "import sys, worldfm.video as v; v.probe_video; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
