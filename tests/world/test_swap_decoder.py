"""`swap_decoder`: a decoder trained over the same frozen encoder replaces a pipeline's; anything that
would change the latents is refused and leaves the pipeline folder as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from worldfm.errors import WorldfmError
from worldfm.tokenizers import VideoTokenizer
from worldfm.tokenizers.pretrained import SHIPPED_WEIGHTS_DIR
from worldfm.train.recipes.run import warm_start
from worldfm.train.recipes.tokenizer import added_blocks
from worldfm.world.attach_refiner import detach_refiner
from worldfm.world.swap_decoder import check_same_latents, swap_decoder


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _retrained(source: VideoTokenizer, folder: Path, seed: int, touch_encoder: bool = False) -> Path:
    """`source` grown by one decoder block per level, with changed decoder (or encoder) weights."""
    depth = source.config.blocks_per_decoder_level + 1
    model = VideoTokenizer(source.config.replace(decoder_depth=depth, latent_mean=None, latent_std=None))
    warm_start(model, source.state_dict(), "source", added_blocks(source.config, model.config, "source"))
    g = torch.Generator().manual_seed(seed)
    part = model.encoder if touch_encoder else model.decoder
    with torch.no_grad():
        for p in part.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 1e-2)
    return model.save_pretrained(folder)


@pytest.fixture()
def pipeline(tmp_path: Path) -> Path:
    """A copy of the shipped predict-nano pipeline folder."""
    return Path(shutil.copytree(SHIPPED_WEIGHTS_DIR / "predict-nano", tmp_path / "predict-nano"))


def test_swap_keeps_latents_and_statistics(pipeline: Path, tmp_path: Path) -> None:
    from worldfm.world.load import load_world_pipeline

    old = VideoTokenizer.from_pretrained(pipeline / "tokenizer")
    new_folder = _retrained(old, tmp_path / "decoder", seed=1)
    # The shipped pipeline's detail refiner was trained behind the current decoder: refused, untouched.
    before = _folder_bytes(pipeline)
    with pytest.raises(WorldfmError, match="was trained behind decoder"):
        swap_decoder(pipeline, new_folder)
    assert _folder_bytes(pipeline) == before
    detach_refiner(pipeline)
    report = swap_decoder(pipeline, new_folder)
    depth = old.config.blocks_per_decoder_level + 1
    assert (
        report["decoder_depth"] == depth
        and report["decoder_parameters"] > report["decoder_parameters_before"]
    )
    swapped = VideoTokenizer.from_pretrained(pipeline / "tokenizer")
    new = VideoTokenizer.from_pretrained(new_folder)
    assert swapped.config.latent_mean == old.config.latent_mean  # the pipeline keeps its statistics
    assert swapped.config.latent_std == old.config.latent_std
    video = torch.rand(1, 3, 9, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        assert torch.equal(swapped.encode(video), old.encode(video))
        assert torch.equal(swapped.decode(swapped.encode(video)), new.decode(new.encode(video)))
    record = json.loads((pipeline / "training_record.json").read_text())
    assert record["decoder_swaps"][-1]["source"] == str(new_folder)
    assert "Tokenizer decoder replaced" in (pipeline / "README.md").read_text()
    assert not [p for p in pipeline.iterdir() if p.name.startswith(".")]  # no temporary folders left
    loaded = load_world_pipeline(pipeline, guardrail="off")
    assert loaded.tokenizer.config.blocks_per_decoder_level == depth


def _check_keeps_its_own_tokenizer(
    pipeline: str, tier: str, depths: tuple[int, int], trained_over: str
) -> dict[str, Any]:
    """The shipped `pipeline` carries its own tokenizer copy: `depths` = (encoder blocks per level of the
    copy, of the shipped `tier`), a two-block decoder where the tier's has more, a refiner fitted to the
    copy's decoder, and swapping the tier's decoder in is refused (other latents). `trained_over`: the
    tokenizer the world model's training record names. Returns that training record."""
    from worldfm.world.refiner import DetailRefiner, decoder_digest

    folder = SHIPPED_WEIGHTS_DIR / pipeline
    copy = VideoTokenizer.from_pretrained(folder / "tokenizer")
    shipped = VideoTokenizer.from_pretrained(tier)
    assert (copy.config.depth, shipped.config.depth) == depths
    assert copy.config.blocks_per_decoder_level == 2 < shipped.config.blocks_per_decoder_level
    with pytest.raises(WorldfmError, match="differs from the pipeline's in depth"):
        check_same_latents(copy, shipped, tier)
    refiner = DetailRefiner.from_pretrained(folder / "refiner")
    assert refiner.config.decoder_digest == decoder_digest(copy) != decoder_digest(shipped)
    record = json.loads((folder / "training_record.json").read_text())
    assert record["tokenizer"] == trained_over
    return record


def test_ar_pipeline_keeps_the_tokenizer_it_was_trained_over() -> None:
    """ar-nano was trained over dv4x8x8-nano's stage-2 encoder and carries stage 3's decoder, which its
    refiner was trained behind. The shipped dv4x8x8-nano is stage 6 since session 21 (stage 5, session 20,
    trained the encoder again, grown to two blocks per level): other tokens, so the pipeline keeps its own copy."""
    _check_keeps_its_own_tokenizer("ar-nano", "dv4x8x8-nano", (1, 2), "runs/dv4x8x8-nano-stage2/export")


def test_predict_pipeline_carries_the_shipped_tokenizer_in_bfloat16() -> None:
    """predict-nano's DiT (since session 27) was trained over the latents of the shipped cv4x8x8-nano
    (stage 12; configs/predict/predict-nano-tok12-prior.yaml and the CPU stages before it), and its refiner
    behind that decoder. Pipeline exports store the tokenizer in bfloat16 (the export dtype) while the tier
    ships float16: the copy is the tier's weights rounded to bfloat16, close but not bit-identical, so a
    decoder swap from the tier is refused, while the refiner's digest (rounded to bfloat16) matches both."""
    from worldfm.world.refiner import DetailRefiner, decoder_digest

    folder = SHIPPED_WEIGHTS_DIR / "predict-nano"
    copy = VideoTokenizer.from_pretrained(folder / "tokenizer")
    shipped = VideoTokenizer.from_pretrained("cv4x8x8-nano")
    assert copy.config.to_dict() == shipped.config.to_dict()
    ours, theirs = copy.state_dict(), shipped.state_dict()
    assert ours.keys() == theirs.keys()
    for name, value in ours.items():
        assert torch.equal(value, theirs[name].to(torch.bfloat16).float()), name
    with pytest.raises(WorldfmError, match="encoder weights differ from the pipeline's"):
        check_same_latents(copy, shipped, "cv4x8x8-nano")
    refiner = DetailRefiner.from_pretrained(folder / "refiner")
    assert refiner.config.decoder_digest == decoder_digest(copy) == decoder_digest(shipped)
    record = json.loads((folder / "training_record.json").read_text())
    assert record["tokenizer"] == "cv4x8x8-nano"
    assert record["recipe_file"] == "configs/predict/predict-nano-tok12-prior.yaml"


def test_refusals_leave_the_pipeline_untouched(pipeline: Path, tmp_path: Path) -> None:
    before = _folder_bytes(pipeline)
    old = VideoTokenizer.from_pretrained(pipeline / "tokenizer")
    with pytest.raises(WorldfmError, match=r"encoder weights differ from the pipeline's \(encoder\."):
        swap_decoder(pipeline, _retrained(old, tmp_path / "encoder", seed=2, touch_encoder=True))
    with pytest.raises(
        WorldfmError, match="differs from the pipeline's in depth, fsq_levels, kind, latent_channels"
    ):
        swap_decoder(pipeline, "dv4x8x8-nano")
    with pytest.raises(WorldfmError, match="not a world model pipeline folder"):
        swap_decoder(tmp_path, "cv4x8x8-nano")
    assert _folder_bytes(pipeline) == before
