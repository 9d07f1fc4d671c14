"""The pieces both world-model families share (worldfm.world.pipeline_base, config_base,
pipeline_folder): one implementation, so both families must behave alike through it."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path[:0] = [str(Path(__file__).parent / "autoregressive"), str(Path(__file__).parent / "diffusion")]

from ar_helpers import tiny_ar_pipeline  # noqa: E402
from predict_helpers import tiny_pipeline  # noqa: E402
from world_helpers import moving_square  # noqa: E402

from worldfm.errors import ConfigError, WorldfmError  # noqa: E402
from worldfm.world.autoregressive.config import ARConfig  # noqa: E402
from worldfm.world.autoregressive.pipeline import ARPipeline, ARVideo2WorldPipeline  # noqa: E402
from worldfm.world.detail import DEFAULT_DETAIL_RESTORE, restore_detail  # noqa: E402
from worldfm.world.diffusion.config import DiTConfig  # noqa: E402
from worldfm.world.diffusion.pipeline import PredictPipeline, Video2WorldPipeline  # noqa: E402
from worldfm.world.pipeline_base import WorldPipeline  # noqa: E402
from worldfm.world.pipeline_folder import resolve_pipeline_folder  # noqa: E402


@pytest.fixture(params=["diffusion", "ar"])
def pipe(request: pytest.FixtureRequest) -> WorldPipeline:
    return (tiny_pipeline if request.param == "diffusion" else tiny_ar_pipeline)(None)


def test_both_families_share_the_base_and_its_front_doors() -> None:
    assert issubclass(PredictPipeline, WorldPipeline) and issubclass(ARPipeline, WorldPipeline)
    assert Video2WorldPipeline.__call__ is ARVideo2WorldPipeline.__call__ is WorldPipeline.video2world


def test_shared_request_checks_speak_alike(pipe: WorldPipeline) -> None:
    video = moving_square(5)
    with pytest.raises(ConfigError, match="frames must be an integer >= 1, got 0"):
        pipe.generate(0)
    with pytest.raises(ConfigError, match="fewer than the 5 conditioning frames"):
        pipe.generate(9, video=video[:3], cond_frames=5)
    with pytest.raises(ConfigError, match=r"frame size 16x12 must be a multiple of 8 pixels \("):
        pipe.generate(5, size=(12, 16))
    with pytest.raises(ConfigError, match="actions need one row per transition: 8 rows for 9 frames, got 3"):
        pipe.generate(9, video=video, cond_frames=5, actions=np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="Video2World needs cond_frames >= 1, got 0"):
        pipe.video2world(video, 9, cond_frames=0)
    with pytest.raises(ConfigError, match="Text2World needs a non-empty prompt"):
        pipe.text2world("  ")


def test_front_door_equals_generate(pipe: WorldPipeline) -> None:
    video = moving_square(5)
    acts = np.linspace(-1, 1, 16).reshape(8, 2)
    door = pipe.video2world(video, 9, cond_frames=5, prompt="", actions=acts, samples=2, seed=4)
    direct = pipe.generate(9, video=video, cond_frames=5, actions=acts, samples=2, seed=4)
    assert np.array_equal(door.videos, direct.videos) and door.seeds == [4, 5]
    assert np.array_equal(door.videos[:, :5], np.broadcast_to(video, (2, *video.shape)))


def test_ar_front_door_passes_token_settings_through() -> None:
    pipe = tiny_ar_pipeline(None)
    out = pipe.video2world(moving_square(5), 9, cond_frames=5, temperature=0.0, top_k=3)
    assert out.settings["temperature"] == 0.0 and out.settings["top_k"] == 3
    with pytest.raises(ConfigError, match="steps is a diffusion sampler setting"):
        pipe.text2world("a ball", steps=3)


def test_save_load_round_trip_keeps_the_family_folder_format(pipe: WorldPipeline, tmp_path: Path) -> None:
    folder = pipe.save_pretrained(tmp_path / "p", dtype="float32")
    key = pipe.SETTINGS_KEY
    assert (folder / key / "config.json").is_file() and (folder / "model_index.json").is_file()
    loaded = type(pipe).from_pretrained(folder, guardrail="off", watermark=False)
    assert getattr(loaded, key) == getattr(pipe, key) and loaded.roll_frames == pipe.roll_frames
    video = moving_square(5)
    a = pipe.generate(9, video=video, cond_frames=5, seed=1)
    b = loaded.generate(9, video=video, cond_frames=5, seed=1)
    assert np.array_equal(a.videos, b.videos)
    other = ARPipeline if isinstance(pipe, PredictPipeline) else PredictPipeline
    with pytest.raises(WorldfmError, match="is not one of"):
        other.from_pretrained(folder, guardrail="off")


def test_resolve_pipeline_folder(tmp_path: Path) -> None:
    def unshipped(name: str) -> WorldfmError:
        return WorldfmError(f"{name} not shipped")

    (tmp_path / "t1").mkdir()
    (tmp_path / "t1" / "model_index.json").write_text("{}")
    args = (["t1", "t2"], lambda: tmp_path, unshipped, "test model")
    assert resolve_pipeline_folder("t1", *args) == tmp_path / "t1"
    assert resolve_pipeline_folder(tmp_path / "t1", *args) == tmp_path / "t1"
    with pytest.raises(WorldfmError, match="t2 not shipped"):
        resolve_pipeline_folder("t2", *args)
    with pytest.raises(WorldfmError, match=r"unknown test model '\./x'.*one of: t1, t2"):
        resolve_pipeline_folder("./x", *args)
    with pytest.raises(WorldfmError, match="x: no such world model folder"):
        resolve_pipeline_folder("./x", *args, name_paths=True)
    with pytest.raises(WorldfmError, match="not a world model pipeline folder"):
        resolve_pipeline_folder(tmp_path, *args)


@pytest.mark.parametrize("cls", [DiTConfig, ARConfig])
def test_config_checks_are_shared(cls: type) -> None:
    with pytest.raises(ConfigError, match="width 30 does not split into 4 heads"):
        cls(width=30, heads=4)
    with pytest.raises(ConfigError, match="rope_theta must be > 1"):
        cls(rope_theta=1)
    with pytest.raises(ConfigError, match=f"unknown {cls.KIND} config keys \\['zz'\\]"):
        cls.from_dict({"zz": 1})
    cfg = cls(width=64, heads=4, sample_frames=3, sample_size=4)
    assert (cfg.head_dim, cfg.window_frames, cfg.resolution) == (16, 9, 32)
    assert cls.from_dict(cfg.to_dict()) == cfg and cfg.replace(depth=1).depth == 1


def _decoded(pipe: WorldPipeline, video: np.ndarray) -> np.ndarray:
    """The pipeline's tokenizer round trip of `video` (F, H, W, 3) uint8, as its sampling loop decodes."""
    import torch

    if isinstance(pipe, ARPipeline):
        return pipe._decode(pipe._encode(video))[0]
    return pipe._decode(pipe._encode(torch.from_numpy(video[None])))[0]


@pytest.mark.parametrize("frames", [9, 17])  # one window; rolled windows (the AR decodes once)
def test_detail_restore_adds_the_reference_frames_lost_detail(pipe: WorldPipeline, frames: int) -> None:
    video = moving_square(5)
    kw = dict(video=video, cond_frames=5, samples=2, seed=1)
    raw = pipe.generate(frames, detail_restore=0, **kw)
    restored = pipe.generate(frames, detail_restore=0.3, **kw)
    assert raw.settings["detail_restore"] == 0.0 and restored.settings["detail_restore"] == 0.3
    assert np.array_equal(raw.videos[:, :5], restored.videos[:, :5])
    assert not np.array_equal(raw.videos[:, 5:], restored.videos[:, 5:])
    # The first window's new frames: the raw ones plus the lost detail of conditioning frame 4.
    first = 9 if isinstance(pipe, PredictPipeline) else frames
    decoded_ref = np.broadcast_to(_decoded(pipe, video)[4], (2, *video.shape[1:]))
    given_ref = np.broadcast_to(video[4], decoded_ref.shape)
    expected = restore_detail(raw.videos[:, 5:first], decoded_ref, given_ref, 0.3)
    assert np.array_equal(restored.videos[:, 5:first], expected)


def test_detail_restore_setting_is_saved_and_checked(pipe: WorldPipeline, tmp_path: Path) -> None:
    settings = getattr(pipe, pipe.SETTINGS_KEY)
    assert settings.detail_restore == DEFAULT_DETAIL_RESTORE
    with pytest.raises(ConfigError, match=r"detail_restore must be in \[0, 1\]"):
        pipe.generate(9, video=moving_square(5), cond_frames=5, detail_restore=2.0)
    setattr(pipe, pipe.SETTINGS_KEY, dataclasses.replace(settings, detail_restore=0.05))
    loaded = type(pipe).from_pretrained(
        pipe.save_pretrained(tmp_path / "p", dtype="float32"), guardrail="off"
    )
    assert getattr(loaded, pipe.SETTINGS_KEY).detail_restore == 0.05
