"""Embed stage: the default "thumbnail" embedder gives unit-norm float32 vectors, deterministic, and a
re-encoded, cropped, shifted or brightened copy of a clip lies closer (cosine) to its original than
to any other clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from worldfm.curate.stages.embed import EmbedStage, ThumbnailEmbedder, register_embedder
from worldfm.curate.task import Clip, VideoTask
from worldfm.errors import ConfigError, UnknownNameError
from worldfm.sim.registry import generate_episode
from worldfm.video.io import write_video

T, S = 16, 96


def _pan(image: np.ndarray, step: int) -> np.ndarray:
    image = cv2.resize(image, (S + step * T, S + step * T))
    return np.stack([image[step * t // 2 : step * t // 2 + S, step * t : step * t + S] for t in range(T)])


def _originals() -> dict[str, np.ndarray]:
    clips = {name: _pan(getattr(data, name)(), 2) for name in ("astronaut", "coffee", "chelsea", "rocket")}
    for scenario in ("robot",):
        clips[scenario] = generate_episode(scenario, 0, T, S).frames
    return clips


def _copies(frames: np.ndarray) -> dict[str, tuple[np.ndarray, int]]:
    """Modified copies as (frames, crf): the crf is the H.264 quality they are written with."""
    h, w = frames.shape[1:3]
    c = h // 16
    return {
        "reencoded": (frames, 36),
        "cropped": (np.stack([cv2.resize(f[c : h - c, c : w - c], (w, h)) for f in frames]), 23),
        "shifted": (np.roll(frames, (3, 3), axis=(1, 2)), 23),
        "brighter": (np.clip(frames.astype(np.int16) + 40, 0, 255).astype(np.uint8), 23),
    }


def _task(tmp_path: Path, videos: dict[str, tuple[np.ndarray, int]]) -> VideoTask:
    task = VideoTask("v", str(tmp_path / "src.mp4"), str(tmp_path))
    for i, (name, (frames, crf)) in enumerate(videos.items()):
        path = write_video(tmp_path / f"{name}.mp4", frames, fps=10, crf=crf)
        task.clips.append(Clip(f"v-{i:04d}", 0, T, 0.0, T / 10, path=str(path)))
    return task


def test_copies_are_closer_to_their_original_than_to_other_clips(tmp_path: Path) -> None:
    originals = _originals()
    videos = {name: (frames, 18) for name, frames in originals.items()}
    for name, frames in originals.items():
        videos.update({f"{name}/{kind}": copy for kind, copy in _copies(frames).items()})
    task = EmbedStage().process(_task(tmp_path, videos))
    emb = {name: np.array(c.embedding, np.float32) for name, c in zip(videos, task.clips, strict=True)}
    dim = ThumbnailEmbedder().dim
    for name, vec in emb.items():
        assert vec.shape == (dim,) and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5, name
    for name in originals:
        for kind in ("reencoded", "cropped", "shifted", "brighter"):
            copy = emb[f"{name}/{kind}"]
            own = float(copy @ emb[name])
            other = max(float(copy @ emb[o]) for o in originals if o != name)
            assert own > other + 0.05, (name, kind, own, other)
            assert own > 0.9, (name, kind, own)
    assert all(c.meta["embedder"] == "thumbnail" for c in task.clips)


def test_embeddings_are_deterministic_and_skip_dropped_clips(tmp_path: Path) -> None:
    frames = _pan(data.astronaut(), 2)
    a = EmbedStage().process(_task(tmp_path, {"a": (frames, 18), "b": (frames, 18)}))
    b = _task(tmp_path, {"a": (frames, 18), "b": (frames, 18)})
    b.clips[1].drop("motion", "static")
    EmbedStage().process(b)
    assert a.clips[0].embedding == b.clips[0].embedding and b.clips[1].embedding is None
    black = ThumbnailEmbedder().embed(np.zeros((4, 32, 32, 3), np.uint8))
    assert abs(float(np.linalg.norm(black)) - 1.0) < 1e-5  # flat clips still get a unit vector


def test_pluggable_embedder_and_errors(tmp_path: Path) -> None:
    @register_embedder("test-mean-colour")
    class MeanColour:
        name, dim, num_frames, max_side = "test-mean-colour", 3, 2, 32

        def embed(self, clip_frames: np.ndarray, task: VideoTask, clip: Clip) -> np.ndarray:
            v = clip_frames.reshape(-1, 3).mean(0) + 1.0
            return (v / np.linalg.norm(v)).astype(np.float32)

    task = EmbedStage(embedder="test-mean-colour").process(
        _task(tmp_path, {"a": (_pan(data.coffee(), 2), 18)})
    )
    assert len(task.clips[0].embedding) == 3
    with pytest.raises(UnknownNameError, match="unknown embedder 'clip'"):
        EmbedStage(embedder="clip")
    with pytest.raises(ConfigError, match="frames must be"):
        ThumbnailEmbedder().embed(np.zeros((4, 32, 32), np.uint8))
