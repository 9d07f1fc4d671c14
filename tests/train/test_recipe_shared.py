"""The parts the training recipes share (recipes/common.py, run.py, cached.py): section building,
the export record and model-card lines, atomic writes, the frozen-tokenizer checks and the encoding
cache (real tiny tokenizers saved to disk, real safetensors files)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from worldfm.errors import ConfigError, WorldfmError
from worldfm.tokenizers import TokenizerConfig, VideoTokenizer
from worldfm.train.recipes.cached import (
    cache_key,
    check_tokenizer_kind,
    latent_frame_count,
    load_frozen_tokenizer,
    read_tokenizer_config,
)
from worldfm.train.recipes.common import build_sections, check_export_dtype, to_plain
from worldfm.train.recipes.data import parse_data
from worldfm.train.recipes.predict import CachedClips, cached_clips, encode_clips
from worldfm.train.recipes.run import data_line, scores_text, write_text_atomic

DATA = {
    "root": "unused",
    "datasets": [{"scenario": "objects", "episodes": 2, "frames": 9, "size": 16, "seed": 1}],
    "clip_length": 9,
}


@dataclass(frozen=True)
class Knob:
    level: int = 1


def tiny_cv(seed: int = 0) -> VideoTokenizer:
    torch.manual_seed(seed)
    cfg = TokenizerConfig(
        kind="continuous",
        latent_channels=4,
        widths=(8, 16),
        depth=1,
        latent_mean=(0.0, 0.1, -0.1, 0.0),
        latent_std=(1.0, 0.5, 2.0, 1.0),
        name="tiny-cv",
    )
    return VideoTokenizer(cfg).eval()


class Clips:
    """A map-style clip dataset of CLIP_KEYS items (seeded random video in [-1, 1])."""

    def __init__(self, n: int = 3) -> None:
        g = torch.Generator().manual_seed(7)
        self.video = torch.rand(n, 3, 9, 16, 16, generator=g) * 2 - 1
        self.actions = torch.rand(n, 8, 2, generator=g)

    def __len__(self) -> int:
        return self.video.shape[0]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "video": self.video[i],
            "caption": f"clip {i}",
            "actions": self.actions[i],
            "has_actions": i % 2 == 0,
        }

    def epoch_indices(self, epoch: int) -> list[int]:
        return list(range(len(self)))


def test_build_sections_order_required_and_unknown() -> None:
    specs = {"knob": Knob, "data": parse_data}
    out = build_sections({"data": DATA}, specs, required=("data",))
    assert list(out) == ["knob", "data"] and out["knob"] == Knob() and out["data"].clip_length == 9
    with pytest.raises(ConfigError, match="missing the section 'data'"):
        build_sections({"knob": {}}, specs, required=("data",))
    with pytest.raises(ConfigError, match="unknown recipe key 'nob'; expected one of: knob, data"):
        build_sections({"nob": {}, "data": DATA}, specs, required=("data",))
    with pytest.raises(ConfigError, match=r"knob\.level must be of type int"):
        build_sections({"knob": {"level": "x"}, "data": DATA}, specs, required=())
    with pytest.raises(ConfigError, match="a recipe must be a mapping, got list"):
        build_sections([], specs, required=())  # type: ignore[arg-type]


def test_export_dtype_and_latent_frames() -> None:
    check_export_dtype("float16")
    with pytest.raises(ConfigError, match=r"export\.dtype must be bfloat16, float16 or float32, got 'int8'"):
        check_export_dtype("int8")
    data = parse_data(DATA)
    assert latent_frame_count(data, 4) == 3 and latent_frame_count(data, 8) == 2
    with pytest.raises(ConfigError, match=r"data.clip_length must be 1 \+ k\*3"):
        latent_frame_count(data, 3)


def test_model_card_lines_and_atomic_write(tmp_path: Path) -> None:
    data = parse_data({**DATA, "val_episodes": 1})
    assert data_line(data) == (
        "- Training data: worldfm sim mixture: objects (2 episodes x 9 frames, 16px); clips of 9 frames.\n"
    )
    assert data_line(data, held_out=True).endswith("; last 1 episodes of each dataset held out.\n")
    assert scores_text({"psnr": 31.23456, "clips": 2.0}) == "psnr 31.23, clips 2"
    assert scores_text(None) == scores_text({}) == "not measured"
    target = tmp_path / "training_record.json"
    write_text_atomic(target, "one\n")
    write_text_atomic(target, "two\n")
    assert target.read_text() == "two\n" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_frozen_tokenizer_checks(tmp_path: Path) -> None:
    folder = tiny_cv().save_pretrained(tmp_path / "cv", dtype="float32")
    assert read_tokenizer_config(str(folder)).kind == "continuous"
    assert read_tokenizer_config("cv4x8x8-nano").name == "cv4x8x8-nano"
    assert read_tokenizer_config(str(tmp_path / "missing")) is None
    tok = load_frozen_tokenizer(str(folder), "continuous", "diffusion model")
    assert not tok.training and not any(p.requires_grad for p in tok.parameters())
    with pytest.raises(
        ConfigError, match="is a continuous tokenizer; the autoregressive model needs a DV one"
    ):
        load_frozen_tokenizer(str(folder), "discrete", "autoregressive model")
    with pytest.raises(ConfigError, match="is a continuous tokenizer; the x needs a DV one"):
        check_tokenizer_kind(str(folder), tok.config, "discrete", "x")
    with pytest.raises(
        WorldfmError, match=re.escape("configs/tokenizer/dv4x8x8-nano.yaml --out runs/dv4x8x8-nano")
    ):
        load_frozen_tokenizer(str(tmp_path / "missing"), "discrete", "autoregressive model")


def test_fields_added_later_keep_fingerprints_and_cache_keys_at_their_default() -> None:
    """Runs and caches saved before `TokenizerConfig.decoder_depth`, `DiTConfig.action_modulation`, the
    tokenizer loss's `mse` and `psnr` or the refiner's `init_from_other_decoder` existed keep resuming
    and their keys: at the "as before" value the field is left out; set, it counts."""
    import dataclasses

    from worldfm.train.recipes.common import drop_later_defaults
    from worldfm.train.recipes.refiner import RefinerModelSpec
    from worldfm.train.recipes.tokenizer import TokenizerLossSpec
    from worldfm.world.diffusion.config import DiTConfig

    tok, clips, data = tiny_cv(0), Clips(), parse_data(DATA)
    for config, field_name, value in (
        (tok.config, "decoder_depth", 2),
        (DiTConfig(), "action_modulation", True),
        (TokenizerLossSpec(), "mse", 10.0),
        (TokenizerLossSpec(), "psnr", 0.01),
        (RefinerModelSpec(init_from="runs/x/export"), "init_from_other_decoder", True),
    ):
        # saved before any of the class's later fields existed
        saved_before = {k: v for k, v in to_plain(config).items() if k not in type(config).LATER_FIELDS}
        assert drop_later_defaults(to_plain(config)) == saved_before
        changed = dataclasses.replace(config, **{field_name: value})
        assert drop_later_defaults(to_plain(changed))[field_name] == value

    key = cache_key(tok, clips, data)
    tok.config = dataclasses.replace(tok.config, decoder_depth=tok.config.depth)  # same blocks, field set
    assert cache_key(tok, clips, data) != key


def test_encoding_cache_round_trip_reuse_and_rebuild(tmp_path: Path) -> None:
    tok, clips, data = tiny_cv(0), Clips(), parse_data(DATA)
    path = tmp_path / "run" / "latent_cache.safetensors"
    logs: list[str] = []
    cached = cached_clips(tok, clips, data, path, 2, torch.device("cpu"), logs.append)
    assert isinstance(cached, CachedClips) and len(cached) == 3 and logs[0].startswith("encoding 3 clips")
    direct = encode_clips(tok, clips, 3, torch.device("cpu"))  # batch size does not change the result
    torch.testing.assert_close(cached.latents, direct["latents"])
    item = cached[1]
    assert list(item) == ["latents", "caption", "actions", "has_actions"]
    assert item["caption"] == "clip 1" and not bool(item["has_actions"])
    torch.testing.assert_close(item["actions"], clips.actions[1])
    assert cached.epoch_indices(0) == [0, 1, 2]

    before = path.read_bytes()
    logs.clear()
    again = cached_clips(tok, clips, data, path, 2, torch.device("cpu"), logs.append)
    assert logs == [] and path.read_bytes() == before  # same tokenizer and clips: reused as is
    torch.testing.assert_close(again.latents, cached.latents)

    other = tiny_cv(1)  # other weights: another key, so the file is rebuilt
    assert cache_key(other, clips, data) != cache_key(tok, clips, data)
    cached_clips(other, clips, data, path, 2, torch.device("cpu"), logs.append)
    assert len(logs) == 1 and path.read_bytes() != before
    path.write_bytes(b"truncated")  # a broken file is rebuilt, not an error
    rebuilt = cached_clips(tok, clips, data, path, 2, torch.device("cpu"))
    torch.testing.assert_close(rebuilt.latents, cached.latents)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["key"] == cache_key(tok, clips, data) and json.loads(meta["captions"])[2] == "clip 2"


def test_store_encodings_int8_and_bfloat16_stay_close() -> None:
    from worldfm.train.recipes.cached import store_encodings

    x = torch.randn(6, 4, 3, 2, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor(
        [1.0, 3.0, 0.1, 0.0]
    ).view(1, 4, 1, 1, 1)
    q, scale = store_encodings(x, "int8")
    assert q.dtype == torch.int8 and scale is not None and scale.shape == (4,)
    back = q.float() * scale.view(1, -1, 1, 1, 1)
    # absmax per channel maps to +-127, so the error is at most half a step of that channel's scale
    assert ((back - x).abs() <= 0.5 * scale.view(1, -1, 1, 1, 1) + 1e-7).all()
    assert q.abs().amax(dim=(0, 2, 3, 4))[:3].tolist() == [127, 127, 127] and back[:, 3].abs().max() == 0
    b, none = store_encodings(x, "bfloat16")
    assert b.dtype == torch.bfloat16 and none is None
    with pytest.raises(ConfigError, match=re.escape("cache.dtype must be one of float32, bfloat16, int8")):
        store_encodings(x, "fp8")


@pytest.mark.parametrize("storage", ["int8", "bfloat16"])
def test_encoding_cache_smaller_storage_converts_a_float32_cache(tmp_path: Path, storage: str) -> None:
    tok, clips, data = tiny_cv(0), Clips(), parse_data(DATA)
    path = tmp_path / "latent_cache.safetensors"
    full = cached_clips(tok, clips, data, path, 2, torch.device("cpu"))
    logs: list[str] = []
    small = cached_clips(tok, clips, data, path, 2, torch.device("cpu"), logs.append, storage=storage)
    assert logs == [f"converting the float32 encodings in {path} to {storage}"]  # not encoded again
    assert small.encoded.dtype == getattr(torch, storage) and small[0]["latents"].dtype == torch.float32
    step = full.latents.abs().amax() / 127 if storage == "int8" else full.latents.abs().amax() / 128
    assert (small.latents - full.latents).abs().max() <= step
    torch.testing.assert_close(small[2]["latents"], small.latents[2])
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["storage"] == storage
    logs.clear()
    again = cached_clips(tok, clips, data, path, 2, torch.device("cpu"), logs.append, storage=storage)
    assert logs == [] and torch.equal(again.latents, small.latents)  # reused as stored
    # Back to float32: the int8 file cannot give full precision, so the clips are encoded again.
    cached_clips(tok, clips, data, path, 2, torch.device("cpu"), logs.append)
    assert logs[0].startswith("encoding 3 clips")


def test_prewarm_captions_encodes_each_distinct_caption_once_when_all_fit() -> None:
    from types import SimpleNamespace

    from worldfm.train.recipes.cached import prewarm_captions

    class Counting:
        def __init__(self, cache_size: int) -> None:
            self.config = SimpleNamespace(cache_size=cache_size)
            self.seen: list[str] = []

        def embed(self, texts: list[str]) -> None:
            self.seen.extend(texts)

    captions = ["a ball rolls", "", "a car brakes", "a ball rolls", "  "]
    enc = Counting(cache_size=2)
    assert prewarm_captions(enc, captions) == 2 and enc.seen == ["a ball rolls", "a car brakes"]
    small = Counting(cache_size=1)  # would not fit: left to the steps (an LRU would evict them anyway)
    assert prewarm_captions(small, captions) == 0 and small.seen == []
