"""The learned detail refiner (worldfm.world.refiner), its place in both pipeline families, and
attaching / detaching it (worldfm.world.attach_refiner, swap_decoder's check)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path[:0] = [str(Path(__file__).parent / "autoregressive"), str(Path(__file__).parent / "diffusion")]

from ar_helpers import tiny_ar_pipeline  # noqa: E402
from predict_helpers import tiny_pipeline  # noqa: E402
from world_helpers import moving_square, randomize  # noqa: E402

from worldfm.errors import ConfigError, WorldfmError  # noqa: E402
from worldfm.tokenizers import VideoTokenizer  # noqa: E402
from worldfm.world.attach_refiner import attach_refiner, detach_refiner  # noqa: E402
from worldfm.world.detail import restore_detail  # noqa: E402
from worldfm.world.pipeline_base import WorldPipeline  # noqa: E402
from worldfm.world.refiner import (  # noqa: E402
    FLOW_SCALE,
    DetailRefiner,
    RefinerConfig,
    check_refiner_fits,
    decoder_digest,
    refine_detail,
    warp_frames,
)


def _frames(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _trained(tokenizer: torch.nn.Module | None = None, seed: int = 0, channels: int = 8) -> DetailRefiner:
    """A refiner with random weights (as if trained), behind `tokenizer` when given."""
    config = RefinerConfig(channels=channels, dilations=(1, 2))
    if tokenizer is not None:
        config = config.replace(tokenizer=tokenizer.config.name, decoder_digest=decoder_digest(tokenizer))
    return randomize(DetailRefiner(config), seed=seed, scale=0.05).eval()


# ----- the network and its numpy front door -----
def test_config_checks_and_round_trip() -> None:
    with pytest.raises(ConfigError, match="channels must be an integer >= 1"):
        RefinerConfig(channels=0)
    with pytest.raises(ConfigError, match="dilations must be a non-empty list of integers >= 1"):
        RefinerConfig(dilations=())
    with pytest.raises(ConfigError, match="tolerance must be > 0"):
        RefinerConfig(tolerance=0)
    with pytest.raises(ConfigError, match=r"unknown refiner config keys \['zz'\]"):
        RefinerConfig.from_dict({"zz": 1})
    cfg = RefinerConfig(channels=4, dilations=[1, 3])
    assert cfg.dilations == (1, 3) and cfg.receptive_field == 5 + 2 * 4
    assert RefinerConfig.from_dict(cfg.to_dict()) == cfg


def test_untrained_refiner_is_exactly_the_restore() -> None:
    """The last layer starts at zero: before training, refining is the hand-made restore."""
    gen, ref_dec, ref_given = (
        _frames(0, (2, 5, 16, 24, 3)),
        _frames(1, (2, 16, 24, 3)),
        _frames(2, (2, 16, 24, 3)),
    )
    gen[:, :, :8] = ref_dec[:, None, :8]  # half the frame unchanged: the restore acts there
    refiner = DetailRefiner(RefinerConfig(channels=8))
    out = refine_detail(refiner, gen, ref_dec, ref_given, 0.2)
    assert np.array_equal(out, restore_detail(gen, ref_dec, ref_given, 0.2))
    assert not np.array_equal(out, gen)


def test_refine_detail_shapes_chunks_and_off_switch() -> None:
    refiner = _trained()
    gen, ref_dec, ref_given = (
        _frames(0, (3, 7, 16, 16, 3)),
        _frames(1, (3, 16, 16, 3)),
        _frames(2, (3, 16, 16, 3)),
    )
    out = refine_detail(refiner, gen, ref_dec, ref_given, 0.1)
    assert out.shape == gen.shape and out.dtype == np.uint8
    assert not np.array_equal(out, restore_detail(gen, ref_dec, ref_given, 0.1))  # it does something
    assert np.array_equal(out, refine_detail(refiner, gen, ref_dec, ref_given, 0.1, chunk_frames=2))
    # each sample is refined against its own reference: sample 1 alone gives the same frames
    assert np.array_equal(out[1:2], refine_detail(refiner, gen[1:2], ref_dec[1:2], ref_given[1:2], 0.1))
    assert refine_detail(refiner, gen, ref_dec, ref_given, 0.0) is gen  # 0 = frames as decoded
    with pytest.raises(ConfigError, match="decoded_ref must be"):
        refine_detail(refiner, gen, ref_dec[:1], ref_given, 0.1)


def test_save_load_equality(tmp_path: Path) -> None:
    refiner = _trained(seed=3)
    refiner.config = refiner.config.replace(name="r", tokenizer="tok", decoder_digest="abc")
    folder = refiner.save_pretrained(tmp_path / "r", model_card="# r\n")
    loaded = DetailRefiner.from_pretrained(folder)
    assert loaded.config == refiner.config and (folder / "README.md").is_file()
    for key, value in refiner.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    with pytest.raises(WorldfmError, match="not a detail refiner folder"):
        DetailRefiner.from_pretrained(tmp_path)


def test_decoder_digest_names_the_decoder() -> None:
    pipe = tiny_pipeline(None)
    tok = pipe.tokenizer
    before = decoder_digest(tok)
    with torch.no_grad():
        next(tok.encoder.parameters()).add_(1.0)  # the encoder is not part of it
    assert decoder_digest(tok) == before and len(before) == 16
    with torch.no_grad():
        next(tok.decoder.parameters()).add_(1.0)
    assert decoder_digest(tok) != before
    with pytest.raises(WorldfmError, match="was trained behind decoder"):
        check_refiner_fits(_trained().__class__(RefinerConfig(decoder_digest=before)), tok)


# ----- in the pipelines -----
@pytest.fixture(params=["diffusion", "ar"])
def pipe(request: pytest.FixtureRequest) -> WorldPipeline:
    return (tiny_pipeline if request.param == "diffusion" else tiny_ar_pipeline)(None)


def test_pipeline_refines_where_it_restored(pipe: WorldPipeline) -> None:
    """With a refiner, each restore becomes `refine_detail` of the same inputs; `detail_refine` False
    and tolerance 0 go back to the restore and to the frames as decoded."""
    import worldfm.world.pipeline_base as base

    video = moving_square(5)
    kw = dict(video=video, cond_frames=5, samples=2, seed=1)
    plain = pipe.generate(9, **kw)
    pipe.refiner = _trained(pipe.tokenizer)
    calls: list[tuple[np.ndarray, ...]] = []
    original = base.refine_detail

    def spy(refiner: DetailRefiner, *args: object) -> np.ndarray:
        calls.append(tuple(np.array(a) for a in args[:3]))
        return original(refiner, *args)

    base.refine_detail = spy
    try:
        refined = pipe.generate(9, **kw)
    finally:
        base.refine_detail = original
    assert len(calls) == 1 and refined.settings["detail_refine"] is True
    generated, decoded_ref, given_ref = calls[0]
    assert np.array_equal(given_ref, np.broadcast_to(video[4], given_ref.shape))
    assert np.array_equal(
        refined.videos[:, 5:], refine_detail(pipe.refiner, generated, decoded_ref, given_ref, 0.1)
    )
    assert np.array_equal(refined.videos[:, :5], plain.videos[:, :5])
    assert not np.array_equal(refined.videos, plain.videos)
    off = pipe.generate(9, detail_refine=False, **kw)
    assert np.array_equal(off.videos, plain.videos) and off.settings["detail_refine"] is False
    raw = pipe.generate(9, detail_restore=0, **kw)
    pipe.refiner = None
    assert np.array_equal(raw.videos, pipe.generate(9, detail_restore=0, **kw).videos)


def test_pipeline_saves_and_loads_its_refiner(pipe: WorldPipeline, tmp_path: Path) -> None:
    pipe.refiner = _trained(pipe.tokenizer, seed=2)
    folder = pipe.save_pretrained(tmp_path / "p", dtype="float32")
    assert json.loads((folder / "model_index.json").read_text())["refiner"] == ["worldfm", "DetailRefiner"]
    loaded = type(pipe).from_pretrained(folder, guardrail="off", watermark=False)
    assert loaded.refiner is not None and loaded.refiner.config == pipe.refiner.config
    kw = dict(video=moving_square(5), cond_frames=5, seed=3)
    assert np.array_equal(pipe.generate(9, **kw).videos, loaded.generate(9, **kw).videos)


def test_pipeline_refuses_a_refiner_of_another_decoder(pipe: WorldPipeline) -> None:
    other = tiny_pipeline(None, seed=5).tokenizer
    with pytest.raises(WorldfmError, match="was trained behind decoder"):
        type(pipe)(pipe.transformer, pipe.tokenizer, None, guardrail="off", refiner=_trained(other))


# ----- attach / detach -----
def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_attach_and_detach(pipe: WorldPipeline, tmp_path: Path) -> None:
    folder = pipe.save_pretrained(tmp_path / "p", dtype="float32")
    (folder / "README.md").write_text("# card\n")
    tok = VideoTokenizer.from_pretrained(folder / "tokenizer")
    source = _trained(tok, seed=4).save_pretrained(tmp_path / "r")
    report = attach_refiner(folder, source)
    assert report["action"] == "attached" and report["decoder_digest"] == decoder_digest(tok)
    assert f"as `refiner/` from `{source}`" in (folder / "README.md").read_text()  # which one, in the card
    loaded = type(pipe).from_pretrained(folder, guardrail="off")
    assert loaded.refiner is not None
    # attaching again replaces it
    attach_refiner(folder, _trained(tok, seed=6).save_pretrained(tmp_path / "r2"))
    again = type(pipe).from_pretrained(folder, guardrail="off").refiner
    assert not torch.equal(next(again.parameters()), next(loaded.refiner.parameters()))
    # a refiner of another decoder is refused and leaves the folder as it was
    before = _folder_bytes(folder)
    foreign = _trained(tiny_pipeline(None, seed=5).tokenizer).save_pretrained(tmp_path / "foreign")
    with pytest.raises(WorldfmError, match="was trained behind decoder"):
        attach_refiner(folder, foreign)
    assert _folder_bytes(folder) == before
    assert detach_refiner(folder)["action"] == "detached"
    assert type(pipe).from_pretrained(folder, guardrail="off").refiner is None
    assert not (folder / "refiner").exists()
    with pytest.raises(WorldfmError, match="has no refiner to remove"):
        detach_refiner(folder)
    with pytest.raises(WorldfmError, match="not a world model pipeline folder"):
        attach_refiner(tmp_path, source)


def test_detail_refine_setting_is_checked_and_saved(pipe: WorldPipeline, tmp_path: Path) -> None:
    import dataclasses

    settings = getattr(pipe, pipe.SETTINGS_KEY)
    assert settings.detail_refine is True
    with pytest.raises(ConfigError, match="detail_refine must be true or false"):
        dataclasses.replace(settings, detail_refine="yes")
    setattr(pipe, pipe.SETTINGS_KEY, dataclasses.replace(settings, detail_refine=False))
    loaded = type(pipe).from_pretrained(
        pipe.save_pretrained(tmp_path / "p", dtype="float32"), guardrail="off"
    )
    assert getattr(loaded, pipe.SETTINGS_KEY).detail_refine is False


# ----- the motion head (warp) -----
def test_warp_frames_moves_pixels_by_whole_displacements() -> None:
    frames = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).reshape(2, 3, 5, 6)
    zero = torch.zeros(2, 2, 5, 6)
    assert torch.allclose(warp_frames(frames, zero), frames, atol=1e-4)
    shift = zero.clone()
    shift[:, 0] = 1.0  # each pixel reads its right-hand neighbour
    shift[:, 1] = -2.0  # ... two rows up
    out = warp_frames(frames, shift)
    assert torch.allclose(out[:, :, 2:, :5], frames[:, :, :3, 1:], atol=1e-4)
    assert torch.allclose(
        out[:, :, :, 5], frames[:, :, :, 5][:, :, [0, 0, 0, 1, 2]], atol=1e-4
    )  # borders repeat
    half = zero.clone()
    half[:, 0] = 0.5  # bilinear between neighbours
    assert torch.allclose(
        warp_frames(frames, half)[..., :5], (frames[..., :5] + frames[..., 1:]) / 2, atol=1e-4
    )


def test_warp_refiner_starts_as_the_plain_one_and_carries_the_reference() -> None:
    from worldfm.train.recipes.run import warm_start

    plain = _trained(seed=4)
    warp = DetailRefiner(plain.config.replace(warp=True))
    with pytest.raises(ConfigError, match=r"missing: warp_head\.bias, warp_head\.weight"):
        warm_start(DetailRefiner(plain.config.replace(warp=True)), plain.state_dict(), "plain")
    warm_start(warp, plain.state_dict(), "plain", ("warp_head.",))
    x = [torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(i)) * 2 - 1 for i in range(4)]
    with torch.no_grad():
        assert torch.equal(warp(*x), plain(*x))  # the head starts at zero: no motion, weight 0
        # weight 1, displacement one pixel to the right, no correction: the given reference moved
        warp.out.weight.zero_()
        warp.out.bias.zero_()
        warp.warp_head.bias.copy_(torch.tensor([1.0 / FLOW_SCALE, 0.0, 1.0]))
        out = warp(*x)
    assert torch.allclose(out[..., :15], x[3][..., 1:], atol=1e-6)
    assert torch.allclose(out[..., 15], x[3][..., 15], atol=1e-6)  # the border repeats


def test_warp_config_round_trip_and_plain_configs_unchanged(tmp_path: Path) -> None:
    assert "warp" not in RefinerConfig().to_dict()  # refiners saved before the head read back the same
    with pytest.raises(ConfigError, match="warp must be true or false"):
        RefinerConfig(warp=1)  # type: ignore[arg-type]
    refiner = randomize(
        DetailRefiner(RefinerConfig(channels=8, dilations=(1,), warp=True)), seed=5, scale=0.05
    )
    loaded = DetailRefiner.from_pretrained(refiner.save_pretrained(tmp_path / "w"))
    assert loaded.config.warp and loaded.warp_head is not None
    for key, value in refiner.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    gen, ref_dec, ref_given = (
        _frames(0, (2, 4, 16, 16, 3)),
        _frames(1, (2, 16, 16, 3)),
        _frames(2, (2, 16, 16, 3)),
    )
    out = refine_detail(loaded, gen, ref_dec, ref_given, 0.1)
    assert np.array_equal(out, refine_detail(refiner.eval(), gen, ref_dec, ref_given, 0.1, chunk_frames=3))
