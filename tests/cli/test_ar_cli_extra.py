"""`worldfm predict` with both model families: the progress bar says what it counts ("denoising" for the
diffusion model, "sampling tokens" for the autoregressive one), and an unknown model name lists the
tiers of both families."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import worldfm.cli.predict as predict_cli
from worldfm.cli.main import app

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS / "world" / "autoregressive"), str(TESTS / "world" / "diffusion")]
from ar_helpers import tiny_ar_pipeline  # noqa: E402
from predict_helpers import tiny_pipeline  # noqa: E402

runner = CliRunner()


def test_progress_label_names_what_each_family_counts() -> None:
    assert predict_cli.progress_label(tiny_ar_pipeline(None)) == "sampling tokens"
    assert predict_cli.progress_label(tiny_pipeline(None)) == "denoising"


@pytest.mark.parametrize("label", ["sampling tokens", "denoising"])
def test_progress_bar_shows_the_label(label: str, monkeypatch: pytest.MonkeyPatch) -> None:
    console = Console(record=True, force_terminal=True, width=100)
    monkeypatch.setattr(predict_cli, "err_console", console)
    with predict_cli._progress(False, label) as progress:
        for done in range(1, 4):
            progress(done, 3)
    text = console.export_text()
    assert label in text and "3/3" in text


def test_ar_pipeline_progress_counts_sampled_tokens() -> None:
    """The AR pipeline reports tokens to the bar: 2 new latent frames of 2x2 tokens = 8."""
    import numpy as np

    seen: list[tuple[int, int]] = []
    pipe = tiny_ar_pipeline(None)
    video = np.full((1, 16, 16, 3), 90, np.uint8)
    pipe.generate(9, video=video, cond_frames=1, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (8, 8) and [d for d, _ in seen] == list(range(1, 9))


@pytest.mark.parametrize("command", ["text2world", "video2world"])
def test_unknown_model_lists_both_families(command: str, tmp_path: Path) -> None:
    args = ["predict", command, "--out", str(tmp_path / "x.mp4"), "--model", "ar-mega"]
    args += ["--prompt", "a ball"] if command == "text2world" else ["--input", "in.mp4", "--frames", "9"]
    res = runner.invoke(app, args)
    assert res.exit_code != 0
    out = " ".join(res.output.split())  # rich may wrap the message
    assert "unknown world model 'ar-mega'" in out
    for tier in ("predict-nano", "predict-super", "ar-nano", "ar-super"):
        assert tier in out
    assert not (tmp_path / "x.mp4").exists()
