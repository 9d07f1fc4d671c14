"""`worldfm guard video IN --out OUT`: exit 0 (written), 3 (blocked, nothing written), 1 (error)."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import typer
from typer.testing import CliRunner

from worldfm.cli import guard_video
from worldfm.video.io import read_video, write_video

runner = CliRunner()
group = typer.Typer()
guard_video.register(group)
root = typer.Typer()
root.add_typer(group, name="guard")  # mounted as cli/guard.py does, without the other guard commands
WORLDFM = Path(sys.executable).with_name("worldfm")


def _face_frames(num: int = 4) -> np.ndarray:
    face = cv2.resize(skimage.data.astronaut(), (96, 96), interpolation=cv2.INTER_AREA)
    return np.stack([np.roll(face, 3 * t, axis=1) for t in range(num)])


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("gv") / "face.mp4", _face_frames(), fps=8)


@pytest.fixture(scope="module")
def text_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = np.full((2, 64, 160, 3), 210, np.uint8)
    for frame in frames:
        cv2.putText(frame, "KILL YOURSELF", (4, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (20, 20, 20), 2)
    return write_video(tmp_path_factory.mktemp("gv") / "text.mp4", frames, fps=8)


def test_allowed_writes_blurred_video(face_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "clean.mp4"
    result = runner.invoke(root, ["guard", "video", str(face_clip), "--out", str(out), "--json", "--no-ocr"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["allowed"] is True and report["reasons"] == []
    # 1 face, plus a weak false alarm on the shuttle in one frame (threshold 0.2 favours recall)
    assert report["frames"] == 4 and report["faces"] >= 1 and report["frames_blurred"] == 4
    assert [c["name"] for c in report["checks"]] == ["faces"] and report["out"] == str(out)
    written, original = read_video(out), read_video(face_clip)
    assert written.shape == original.shape
    face = (slice(18, 30), slice(37, 48))  # middle of the face in frame 0
    assert np.abs(written[0][face].astype(int) - original[0][face].astype(int)).mean() > 10
    corner = (slice(0, 10), slice(0, 10))  # flag, far from the face: unchanged up to re-encoding
    assert np.abs(written[0][corner].astype(int) - original[0][corner].astype(int)).mean() < 4


def test_pixelate_plain_output(face_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "pix.mp4"
    result = runner.invoke(
        root, ["guard", "video", str(face_clip), "--out", str(out), "--no-ocr", "--pixelate"]
    )
    assert result.exit_code == 0, result.output
    assert "face(s) hidden in 4 frame(s)" in result.stdout and out.is_file()


def test_text_in_video_is_blocked_and_nothing_written(text_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "blocked.mp4"
    result = runner.invoke(root, ["guard", "video", str(text_clip), "--out", str(out), "--json"])
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["allowed"] is False and report["out"] is None
    ocr = next(c for c in report["checks"] if c["name"] == "ocr")
    assert ocr["blocked"] and "KILL" in ocr["reason"]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_missing_detector_fails_closed_in_a_real_process(face_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    args = [str(WORLDFM), "guard", "video", str(face_clip), "--out", str(out), "--no-ocr"]
    proc = subprocess.run(
        [*args, "--face-model", str(tmp_path / "gone.onnx")], capture_output=True, text=True
    )
    assert proc.returncode == 3, proc.stderr
    assert "blocked" in proc.stderr and "gone.onnx not found" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/missing.mp4", "--out", "{tmp}/o.mp4"], "missing.mp4"),
        (["{clip}", "--out", "{tmp}/o.txt"], "expected a video file"),
        (["{clip}", "--out", "{clip}"], "must differ from the input"),
    ],
)
def test_errors_exit_1(face_clip: Path, tmp_path: Path, args: list[str], message: str) -> None:
    args = [a.replace("{clip}", str(face_clip)).replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(root, ["guard", "video", *args])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
