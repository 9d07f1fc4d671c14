"""`worldfm watermark embed / detect`: exit codes, JSON keys, clear errors on a real mp4."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import typer
from typer.testing import CliRunner

from worldfm.cli import watermark
from worldfm.video.io import write_video

runner = CliRunner()
root = typer.Typer()
root.add_typer(watermark.app, name="watermark")
PAYLOAD = "a1b2075bcd15"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    big = cv2.resize(skimage.data.astronaut(), (80, 80), interpolation=cv2.INTER_AREA)
    frames = np.stack([big[i : i + 64, i : i + 64] for i in range(12)])
    return write_video(tmp_path_factory.mktemp("wm") / "clip.mp4", frames, fps=12, crf=10)


def test_embed_then_detect_json(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "marked.mp4"
    result = runner.invoke(root, ["watermark", "embed", str(clip), "--payload", PAYLOAD, "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(root, ["watermark", "detect", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["detected"] is True and data["payload"] == PAYLOAD
    assert isinstance(data["confidence"], float) and data["confidence"] > 0.999999


def test_detect_unmarked_exits_zero(clip: Path) -> None:
    result = runner.invoke(root, ["watermark", "detect", str(clip), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"detected", "payload", "confidence"} <= set(data)
    assert data["detected"] is False and data["payload"] is None and data["confidence"] == 0.0
    assert "no watermark" in runner.invoke(root, ["watermark", "detect", str(clip)]).stdout


@pytest.mark.parametrize(
    ("payload", "message"),
    [("xyz", "not valid hex"), ("00" * 7, "expected exactly 6 bytes"), ("abcd", "expected exactly 6 bytes")],
)
def test_embed_bad_payload(clip: Path, tmp_path: Path, payload: str, message: str) -> None:
    out = tmp_path / "x.mp4"
    result = runner.invoke(root, ["watermark", "embed", str(clip), "--payload", payload, "--out", str(out)])
    assert result.exit_code == 1
    assert message in result.output and not out.exists()


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    for args in (
        ["embed", str(missing), "--payload", PAYLOAD, "--out", str(tmp_path / "o.mp4")],
        ["detect", str(missing)],
    ):
        result = runner.invoke(root, ["watermark", *args])
        assert result.exit_code == 1
        assert "does not exist" in result.output
