"""bench_ceiling: its --pair parsing and the decode-path frames it scores (bench_predict.reference_frames)."""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tokenizers"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from tokenizer_helpers import tiny_model

from bench_ceiling import pair_path, parse_pair
from bench_predict import CLIP_FRAMES, HORIZON, Clip, reference_frames
from predict_baselines import ColourSegmenter, copy_last
from worldfm.world.refiner import DetailRefiner, RefinerConfig


def test_parse_pair() -> None:
    assert parse_pair("cv4x8x8-nano=runs/r/export") == ("cv4x8x8-nano", "runs/r/export")
    assert parse_pair("tok=none") == ("tok", None)
    for bad in ("tok", "=r", "tok="):
        with pytest.raises(argparse.ArgumentTypeError, match="TOKENIZER=REFINER"):
            parse_pair(bad)


def _clip() -> Clip:
    """A 16 px square sliding over a grey background, labelled 1."""
    frames = np.full((CLIP_FRAMES, 32, 32, 3), 90, np.uint8)
    labels = np.zeros((CLIP_FRAMES, 32, 32), np.int64)
    for t in range(CLIP_FRAMES):
        frames[t, 8:16, t : t + 8] = (200, 40, 40)
        labels[t, 8:16, t : t + 8] = 1
    return Clip("objects", 0, 0, frames, labels, ["square"], None, "", 8.0, ColourSegmenter(frames, labels))


@pytest.mark.parametrize("k", [1, 9])
def test_reference_frames(k: int) -> None:
    clip = _clip()
    untrained = DetailRefiner(RefinerConfig(channels=4, dilations=(1,)))  # zero last layer: the restore
    out = reference_frames(tiny_model("continuous"), untrained, clip, k, 0.1)
    assert list(out) == ["as decoded", "restore", "refine"]
    assert all(v.shape == (HORIZON, 32, 32, 3) and v.dtype == np.uint8 for v in out.values())
    assert np.array_equal(out["refine"], out["restore"])
    assert np.array_equal(
        copy_last(clip.frames[:k], HORIZON), np.repeat(clip.frames[k - 1 : k], HORIZON, axis=0)
    )
    assert "refine" not in reference_frames(tiny_model("continuous"), None, clip, k, 0.1)


def test_decode_path_tolerance_and_record() -> None:
    refiner = DetailRefiner(RefinerConfig(channels=4, dilations=(1,), tolerance=0.25))
    path = pair_path("ar-nano", None, refiner)
    assert path.tolerance == 0.25 and path.record() == {
        "label": "ar-nano",
        "tolerance": 0.25,
        "refined": True,
    }
    assert pair_path("tok", None, None).tolerance == 0.1  # restore only: the default restore's tolerance


def test_unknown_pipeline_is_refused_before_any_clip(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ceiling.py"
    out = tmp_path / "ceiling.json"
    run = subprocess.run(
        [sys.executable, str(script), "--pipeline", "no-such-model", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "no-such-model" in run.stderr and "predict-nano" in run.stderr  # names the known models
    assert not out.exists()
