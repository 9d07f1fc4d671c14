"""`worldfm video info`: rich table, JSON probe, clean errors; through typer and a real process."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from worldfm.cli import video
from worldfm.video.io import write_video

runner = CliRunner()
# Mount the group the way cli/main.py does, so the test does not depend on the other command groups.
root = typer.Typer()
root.add_typer(video.app, name="video")
WORLDFM = Path(sys.executable).with_name("worldfm")  # the console script installed in the venv


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = np.zeros((6, 16, 24, 3), np.uint8)
    return write_video(tmp_path_factory.mktemp("cli") / "clip.mp4", frames, fps=12)


@pytest.fixture
def corrupt(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(b"definitely not an mp4 file\n" * 50)
    return path


def test_info_json(clip: Path) -> None:
    result = runner.invoke(root, ["video", "info", str(clip), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "path": str(clip),
        "codec": "h264",
        "width": 24,
        "height": 16,
        "fps": 12.0,
        "num_frames": 6,
        "duration": 0.5,
        "container": "mp4",
    }


def test_info_table(clip: Path) -> None:
    result = runner.invoke(root, ["video", "info", str(clip)])
    assert result.exit_code == 0, result.output
    for text in ("h264", "mp4", "24x16", "12", "6", "0.500 s"):
        assert text in result.stdout


@pytest.mark.parametrize("name", ["missing.mp4", "corrupt.mp4"])
def test_info_errors_are_one_line(tmp_path: Path, corrupt: Path, name: str) -> None:
    path = tmp_path / name
    result = runner.invoke(root, ["video", "info", str(path), "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}: ")
    assert result.stderr.count("\n") == 1


def test_info_real_process(clip: Path, corrupt: Path) -> None:
    ok = subprocess.run(
        [str(WORLDFM), "video", "info", str(clip), "--json"], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["num_frames"] == 6

    bad = subprocess.run(
        [str(WORLDFM), "video", "info", str(corrupt)], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {corrupt}: not a readable video")
