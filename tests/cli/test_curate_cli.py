"""`worldfm curate run` and `worldfm curate report` on real short videos: JSON and table output,
exit 0 with a quarantined video, resume on rerun, exit 1 with a one-line error on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from worldfm.cli import curate
from worldfm.video.io import write_video

runner = CliRunner()
# Mount the group the way cli/main.py does, so the test does not depend on the other command groups.
root = typer.Typer()
root.add_typer(curate.app, name="curate")
FAST = str(Path(__file__).resolve().parents[2] / "configs" / "curate" / "fast.yaml")


def _panned(photo: str, frames: int = 24, h: int = 48, w: int = 64, step: int = 2) -> np.ndarray:
    """(frames, h, w, 3) uint8: a window sliding across a scikit-image photo (plenty of motion)."""
    from skimage import data, transform

    img = getattr(data, photo)()[..., :3]
    scale = max((h + 8) / img.shape[0], (w + step * frames) / img.shape[1])
    small = (
        (transform.rescale(img, scale, channel_axis=-1, anti_aliasing=True) * 255).round().astype(np.uint8)
    )
    return np.stack([small[4 : 4 + h, step * k : step * k + w] for k in range(frames)])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("curate-cli") / "raw"
    raw.mkdir()
    write_video(raw / "coffee.mp4", _panned("coffee"), fps=10)
    write_video(raw / "chelsea.mp4", _panned("chelsea"), fps=10)
    (raw / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"garbage" * 50)
    return raw


@pytest.fixture(scope="module")
def finished(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("curate-cli-out") / "out"
    args = ["curate", "run", str(corpus), "--out", str(out), "--config", FAST, "--workers", "1", "--json"]
    result = runner.invoke(root, args)
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_run_json_exits_0_with_a_quarantined_video(corpus: Path, finished: tuple[Path, dict]) -> None:
    out, summary = finished
    assert summary["videos"]["total"] == 3 and summary["videos"]["quarantined"] == 1
    assert summary["quarantined"][0]["source"] == str(corpus / "broken.mp4")
    assert summary["clips"]["kept"] == 2 and summary["corpus_stages"]["shard"]["clips"] == 2
    assert (out / "dataset" / "index.parquet").is_file() and (out / "report.html").is_file()


def test_rerun_resumes_and_prints_tables(corpus: Path, finished: tuple[Path, dict]) -> None:
    out, _ = finished
    result = runner.invoke(
        root, ["curate", "run", str(corpus), "--out", str(out), "--config", FAST, "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "videos reused" in text and "quarantined videos" in text and "broken.mp4" in text
    assert f"dataset: {out / 'dataset'} (2 clips" in text.replace("\n", "")
    assert json.loads((out / "summary.json").read_text())["videos"]["reused"] == 3


def test_report(finished: tuple[Path, dict]) -> None:
    out, _ = finished
    result = runner.invoke(root, ["curate", "report", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["videos"]["total"] == 3
    result = runner.invoke(root, ["curate", "report", str(out)])
    assert result.exit_code == 0 and "clips kept" in result.stdout and "videos quarantined" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "{tmp}/missing", "--out", "{tmp}/o", "--config", FAST], "input does not exist"),
        (
            ["run", "{tmp}", "--out", "{tmp}/o", "--config", "{tmp}/nope.yaml"],
            "curation config does not exist",
        ),
        (
            ["run", "{tmp}", "--out", "{tmp}/o", "--config", "{tmp}/bad.yaml"],
            "unknown curation stage 'splitt'",
        ),
        (
            ["run", "{tmp}", "--out", "{tmp}/o", "--config", FAST, "--executor", "spark"],
            "unknown executor 'spark'",
        ),
        (
            ["run", "{tmp}", "--out", "{tmp}/o", "--config", FAST, "--ray-address", "auto"],
            "needs --executor ray",
        ),
        (["report", "{tmp}"], "no curation run here"),
    ],
)
def test_errors_exit_1_with_a_message(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("stages:\n  - {stage: probe}\n  - {stage: splitt}\n")
    result = runner.invoke(root, ["curate", *(a.replace("{tmp}", str(tmp_path)) for a in args)])
    assert result.exit_code == 1, result.output
    assert "error:" in result.stderr and message in result.stderr.replace("\n", "")
    assert "Traceback" not in result.output


def test_default_config_found_outside_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = curate.default_config()
    assert path.name == "default.yaml" and path.is_file() and path.parent.name == "curate"
