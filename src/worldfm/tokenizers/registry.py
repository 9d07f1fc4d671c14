"""Tokenizer tiers: a literal table of configs, named by kind and compression axes, Cosmos-style.

`cv4x8x8-nano` = continuous video, 4x temporal and 8x8 spatial compression, the CPU tier for 64 px
video. `-nano` tiers are sized to train and run on 2 CPU cores (weights shipped in the package once
trained); `-super` tiers are wider and deeper, with attention, for GPUs (defined, no shipped weights).
"""

from __future__ import annotations

from typing import Any

from worldfm.errors import UnknownNameError
from worldfm.tokenizers.config import TokenizerConfig

FSQ_64K = (8, 8, 8, 5, 5, 5)  # 64,000 codes, as in Cosmos' DV tokenizers

# Nano: a 4x4x4 Haar packet patch (as Cosmos), then one level at 1/4 and one at 1/8 resolution.
# Sized for 2 CPU cores: 1.2M parameters (2.3 MB in bf16), 9.5 GFLOP forward on (8, 3, 17, 64, 64);
# widths (64, 128) give 2.0M parameters at 1.7x the cost.
_NANO = dict(widths=(48, 96), depth=1, patch_spatial=4, patch_temporal=4)
_SUPER = dict(widths=(128, 256, 512), depth=2, patch_spatial=2, patch_temporal=2, attention=True)

TOKENIZER_TIERS: dict[str, dict[str, Any]] = {
    "cv4x8x8-nano": dict(kind="continuous", temporal_factor=4, spatial_factor=8, latent_channels=16, **_NANO),
    "dv4x8x8-nano": dict(
        kind="discrete",
        temporal_factor=4,
        spatial_factor=8,
        latent_channels=None,
        fsq_levels=FSQ_64K,
        **_NANO,
    ),
    "cv8x16x16-nano": dict(
        kind="continuous",
        temporal_factor=8,
        spatial_factor=16,
        latent_channels=16,
        widths=(48, 96, 96),
        depth=1,
        patch_spatial=4,
        patch_temporal=4,
    ),
    "cv4x8x8-super": dict(
        kind="continuous", temporal_factor=4, spatial_factor=8, latent_channels=16, **_SUPER
    ),
    "dv4x8x8-super": dict(
        kind="discrete",
        temporal_factor=4,
        spatial_factor=8,
        latent_channels=None,
        fsq_levels=FSQ_64K,
        **_SUPER,
    ),
    "cv8x16x16-super": dict(
        kind="continuous",
        temporal_factor=8,
        spatial_factor=16,
        latent_channels=16,
        widths=(128, 256, 512),
        depth=2,
        patch_spatial=4,
        patch_temporal=2,
        attention=True,
    ),
}


def tokenizer_names() -> list[str]:
    """Names of all tiers, in table order."""
    return list(TOKENIZER_TIERS)


def get_tokenizer_config(name: str, **overrides: Any) -> TokenizerConfig:
    """The config of tier `name`, with optional field overrides (validated); unknown names raise UnknownNameError."""
    if name not in TOKENIZER_TIERS:
        raise UnknownNameError("tokenizer", name, list(TOKENIZER_TIERS))
    return TokenizerConfig(**{**TOKENIZER_TIERS[name], **overrides, "name": name})
