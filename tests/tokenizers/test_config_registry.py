"""TokenizerConfig validation and (de)serialisation; the tier table builds every tier."""

import json

import pytest
from tokenizer_helpers import tiny_config

from worldfm.errors import ConfigError, UnknownNameError
from worldfm.tokenizers import (
    TOKENIZER_TIERS,
    TokenizerConfig,
    VideoTokenizer,
    get_tokenizer_config,
    tokenizer_names,
)


def test_required_tiers_exist() -> None:
    for name in (
        "cv4x8x8-nano",
        "dv4x8x8-nano",
        "cv8x16x16-nano",
        "cv4x8x8-super",
        "dv4x8x8-super",
        "cv8x16x16-super",
    ):
        assert name in TOKENIZER_TIERS
    assert tokenizer_names() == list(TOKENIZER_TIERS)


@pytest.mark.parametrize("name", list(TOKENIZER_TIERS))
def test_tier_configs_match_their_names(name: str) -> None:
    cfg = get_tokenizer_config(name)
    kind, axes = name[:2], name[2:].split("-")[0]
    t, s, s2 = (int(v) for v in axes.split("x"))
    assert cfg.kind == {"cv": "continuous", "dv": "discrete"}[kind]
    assert (cfg.temporal_factor, cfg.spatial_factor, cfg.spatial_factor) == (t, s, s2)
    assert cfg.name == name
    assert cfg.latent_dim == (16 if kind == "cv" else 6)
    if kind == "dv":
        assert cfg.codebook_size == 64000
    assert TokenizerConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize("name", [n for n in TOKENIZER_TIERS if n.endswith("-nano")])
def test_nano_tiers_are_small(name: str) -> None:
    model = VideoTokenizer(get_tokenizer_config(name))
    assert model.num_parameters() < 4_000_000  # well under 10 MB in bf16


def test_super_tiers_construct() -> None:
    for name in TOKENIZER_TIERS:
        if name.endswith("-super"):
            cfg = get_tokenizer_config(name)
            assert cfg.attention and max(cfg.widths) >= 512


def test_unknown_tier() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown tokenizer 'cv9-nano'.*cv4x8x8-nano"):
        get_tokenizer_config("cv9-nano")


def test_overrides_are_validated() -> None:
    assert get_tokenizer_config("cv4x8x8-nano", latent_channels=8).latent_dim == 8
    with pytest.raises(ConfigError, match="latent_channels"):
        get_tokenizer_config("dv4x8x8-nano", latent_channels=8)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(kind="vq"), "kind must be one of"),
        (dict(temporal_factor=3), "temporal_factor must be a power of two"),
        (dict(patch_spatial=16), "must not exceed"),
        (dict(widths=(8, 16, 32)), "resampling steps"),
        (dict(patch_temporal=2, widths=(8, 12)), "multiple of 8"),
        (dict(norm="group", norm_groups=3), "not divisible by norm_groups"),
        (dict(norm="batch"), "norm must be"),
        (dict(depth=0), "depth must be >= 1"),
        (dict(decoder_depth=0), "decoder_depth must be None or >= 1"),
        (dict(decoder_depth=True), "decoder_depth must be None or >= 1"),
        (dict(latent_channels=0), "latent_channels >= 1"),
        (dict(fsq_levels=(8, 5)), "no fsq_levels"),
        (dict(latent_mean=(0.0,), latent_std=(1.0,)), "must hold 4 finite floats"),
        (dict(latent_mean=(0.0,) * 4), "together"),
        (dict(latent_mean=(0.0,) * 4, latent_std=(1.0, 1.0, 0.0, 1.0)), "positive"),
    ],
)
def test_bad_values_raise(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tiny_config().replace(**changes)


def test_discrete_needs_levels() -> None:
    with pytest.raises(ConfigError, match="fsq_levels"):
        tiny_config("discrete", fsq_levels=())


def test_from_dict_rejects_unknown_keys_and_accepts_lists() -> None:
    data = tiny_config().to_dict()
    assert isinstance(data["widths"], list)
    assert TokenizerConfig.from_dict(data).widths == (8, 16)
    with pytest.raises(ConfigError, match=r"unknown tokenizer config keys \['colour'\]"):
        TokenizerConfig.from_dict({**data, "colour": 1})


def test_decoder_depth_defaults_to_depth_and_round_trips() -> None:
    base = tiny_config()
    assert base.decoder_depth is None and base.blocks_per_decoder_level == base.depth
    deeper = base.replace(decoder_depth=3)
    assert deeper.blocks_per_decoder_level == 3
    assert TokenizerConfig.from_dict(deeper.to_dict()) == deeper
    older = base.to_dict()
    del older["decoder_depth"]  # config.json files written before the field existed still load
    assert TokenizerConfig.from_dict(older) == base


def test_latent_shape() -> None:
    cfg = tiny_config()
    assert cfg.latent_shape(1, 8, 16) == (1, 1, 2)
    assert cfg.latent_shape(9, 24, 8) == (3, 3, 1)
    with pytest.raises(ConfigError, match=r"1 \+ k\*4 frames"):
        cfg.latent_shape(4, 8, 8)
    with pytest.raises(ConfigError, match="multiples of 8"):
        cfg.latent_shape(5, 12, 8)
