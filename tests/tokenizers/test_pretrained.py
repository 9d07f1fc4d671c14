"""save_pretrained -> from_pretrained gives the same model; shipped-tier resolution; bad folders."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tokenizer_helpers import smooth_video, tiny_model

from worldfm.errors import ConfigError, WorldfmError
from worldfm.tokenizers import VideoTokenizer, pretrained


def _perturb(model: VideoTokenizer) -> VideoTokenizer:
    # Non-default norms and biases, so a load that skipped any tensor would show.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def test_fp32_save_load_is_identical(kind: str, tmp_path: Path) -> None:
    model = _perturb(tiny_model(kind))
    folder = model.save_pretrained(tmp_path / "m", dtype="float32")
    loaded = VideoTokenizer.from_pretrained(folder)
    assert loaded.config == model.config and not loaded.training
    video = smooth_video(1, 5, 16, 16)
    with torch.no_grad():
        a, b = model(video), loaded(video)
    assert torch.equal(a.reconstruction, b.reconstruction)
    assert torch.equal(a.latents, b.latents)
    meta = json.loads((folder / "config.json").read_text())
    assert (
        meta["_class_name"] == "VideoTokenizer"
        and meta["_format_version"] == 1
        and meta["_dtype"] == "float32"
    )


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_storage_is_close(kind: str, dtype: str, tmp_path: Path) -> None:
    model = _perturb(tiny_model(kind))
    folder = model.save_pretrained(tmp_path / "m", dtype=dtype)
    stored = load_file(str(folder / "model.safetensors"))
    assert {v.dtype for v in stored.values()} == {getattr(torch, dtype)}
    loaded = VideoTokenizer.from_pretrained(folder)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    # Loading is exactly a rounding of the weights to `dtype`.
    for (name, p), q in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(p.to(getattr(torch, dtype)).float(), q), name
    video = smooth_video(1, 9, 16, 16)
    with torch.no_grad():
        za, zb = model.encode_continuous(video), loaded.encode_continuous(video)
        assert (za - zb).abs().max() < 0.05 * za.abs().max()
        latents, indices = model.quantize(za)
        ra, rb = model.decode(latents), loaded.decode(latents)
        assert (ra - rb).abs().max() < 0.05 * ra.abs().max()
        if indices is not None:  # rounding the weights may move a few values across an FSQ step
            assert (loaded.quantize(zb)[1] == indices).float().mean() > 0.9


def test_model_card_written(tmp_path: Path) -> None:
    folder = tiny_model().save_pretrained(tmp_path / "m", model_card="# tiny\n")
    assert (folder / "README.md").read_text() == "# tiny\n"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]


def test_unshipped_tier_says_how_to_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrained, "SHIPPED_WEIGHTS_DIR", tmp_path / "weights")
    with pytest.raises(WorldfmError, match=r"'cv4x8x8-nano' are not shipped yet.*worldfm train tokenizer"):
        VideoTokenizer.from_pretrained("cv4x8x8-nano")
    with pytest.raises(WorldfmError, match="-super tiers are for GPUs"):
        VideoTokenizer.from_pretrained("cv4x8x8-super")


def test_shipped_tier_loads_from_the_weights_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrained, "SHIPPED_WEIGHTS_DIR", tmp_path)
    model = tiny_model("discrete")
    model.save_pretrained(tmp_path / "dv4x8x8-nano")
    assert VideoTokenizer.from_pretrained("dv4x8x8-nano").config == model.config


def test_bad_names_and_folders(tmp_path: Path) -> None:
    with pytest.raises(WorldfmError, match=r"unknown tokenizer 'nope'.*cv4x8x8-nano"):
        VideoTokenizer.from_pretrained("nope")
    with pytest.raises(WorldfmError, match="no such tokenizer folder"):
        VideoTokenizer.from_pretrained(tmp_path / "missing")
    with pytest.raises(WorldfmError, match=r"no config.json"):
        VideoTokenizer.from_pretrained(tmp_path)
    folder = tiny_model().save_pretrained(tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(WorldfmError, match="corrupt weights"):
        VideoTokenizer.from_pretrained(folder)
    tiny_model().save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "widths": [16, 32]}))
    with pytest.raises(WorldfmError, match="has shape"):
        VideoTokenizer.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**config, "depth": 0}))
    with pytest.raises(ConfigError, match="depth must be >= 1"):
        VideoTokenizer.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**config, "_format_version": 99}))
    with pytest.raises(WorldfmError, match="format version 99"):
        VideoTokenizer.from_pretrained(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(WorldfmError, match="unreadable config"):
        VideoTokenizer.from_pretrained(folder)
    with pytest.raises(ConfigError, match="unknown weight dtype"):
        tiny_model().save_pretrained(tmp_path / "x", dtype="int8")
