"""Tiny autoregressive world-model parts for tests: an ARTransformer of a few thousand parameters,
a tiny random DV tokenizer (FSQ levels 4, 3, 3: 36 codes), and a pipeline built from them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from worldfm.tokenizers import TokenizerConfig, VideoTokenizer
from worldfm.world.autoregressive.config import ARConfig
from worldfm.world.autoregressive.transformer import ARTransformer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/world, for world_helpers
from world_helpers import moving_square, randomize  # noqa: F401  (moving_square: re-exported)

LEVELS = (4, 3, 3)
TINY_AR = dict(
    fsq_levels=LEVELS,
    temporal_factor=4,
    spatial_factor=8,
    width=24,
    depth=2,
    heads=2,
    action_dim=3,
    sample_frames=3,
    sample_size=2,
)


def tiny_ar_config(**overrides: Any) -> ARConfig:
    return ARConfig(**{**TINY_AR, "name": "tiny-ar", **overrides})


def tiny_ar(seed: int = 0, **overrides: Any) -> ARTransformer:
    torch.manual_seed(seed)
    return randomize(ARTransformer(tiny_ar_config(**overrides)), seed, scale=0.3).eval()


def tiny_dv_config() -> TokenizerConfig:
    return TokenizerConfig(
        kind="discrete",
        latent_channels=None,
        fsq_levels=LEVELS,
        widths=(8, 16),
        depth=1,
        patch_spatial=4,
        patch_temporal=4,
        name="tiny-dv",
    )


def tiny_dv_tokenizer(seed: int = 0) -> VideoTokenizer:
    torch.manual_seed(seed)
    return VideoTokenizer(tiny_dv_config()).eval()


def save_tiny_dv_tokenizer(folder: Path, seed: int = 0) -> Path:
    return tiny_dv_tokenizer(seed).save_pretrained(folder, dtype="float32")


def tiny_ar_pipeline(
    text_encoder: Any, seed: int = 0, guardrail: Any = "off", watermark: bool = False, **overrides: Any
) -> Any:
    """Guardrails and watermark off unless asked for (the CLI tests load folders with everything on)."""
    from worldfm.world.autoregressive.pipeline import ARPipeline
    from worldfm.world.autoregressive.sampling import ARSamplingConfig

    return ARPipeline(
        tiny_ar(seed, **overrides),
        tiny_dv_tokenizer(seed),
        text_encoder,
        sampling=ARSamplingConfig(temperature=1.0, top_k=0, top_p=1.0, guidance=2.0),
        fps=8.0,
        guardrail=guardrail,
        watermark=watermark,
    )
