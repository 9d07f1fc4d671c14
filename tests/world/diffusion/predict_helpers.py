"""Tiny world-model parts for tests: a DiT of a few thousand parameters, a tiny CV tokenizer with
latent statistics, and a pipeline folder built from them (with the real MiniLM text encoder)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from worldfm.tokenizers import TokenizerConfig, VideoTokenizer
from worldfm.world.diffusion.config import DiTConfig
from worldfm.world.diffusion.dit import DiT

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/world, for world_helpers
from world_helpers import moving_square, randomize  # noqa: F401  (moving_square: re-exported)

TINY_DIT = dict(
    latent_channels=4,
    temporal_factor=4,
    spatial_factor=8,
    patch_size=1,
    width=32,
    depth=2,
    heads=2,
    adaln_lora_rank=8,
    action_dim=3,
    sample_frames=3,
    sample_size=2,
)


def tiny_dit_config(**overrides: Any) -> DiTConfig:
    return DiTConfig(**{**TINY_DIT, "name": "tiny-dit", **overrides})


def tiny_dit(seed: int = 0, random: bool = True, **overrides: Any) -> DiT:
    torch.manual_seed(seed)
    net = DiT(tiny_dit_config(**overrides))
    return (randomize(net, seed) if random else net).eval()


def tiny_tokenizer(seed: int = 0, channels: int = 4) -> VideoTokenizer:
    torch.manual_seed(seed)
    cfg = TokenizerConfig(
        kind="continuous",
        latent_channels=channels,
        widths=(8, 16),
        depth=1,
        patch_spatial=4,
        patch_temporal=4,
        latent_mean=tuple(0.01 * i for i in range(channels)),
        latent_std=tuple(0.5 + 0.1 * i for i in range(channels)),
        name="tiny-cv",
    )
    return VideoTokenizer(cfg).eval()


def tiny_pipeline(
    text_encoder: Any, seed: int = 0, guardrail: Any = "off", watermark: bool = False, **dit_overrides: Any
) -> Any:
    """Guardrails and watermark off unless asked for: most tests check the generator alone (the
    guarded path has its own tests, and the CLI tests load the folder with everything on)."""
    from worldfm.world.diffusion.pipeline import PredictPipeline, SamplerConfig

    return PredictPipeline(
        tiny_dit(seed, **dit_overrides),
        tiny_tokenizer(seed),
        text_encoder,
        sampler=SamplerConfig(sampler="euler", steps=2, guidance=2.0),
        fps=8.0,
        guardrail=guardrail,
        watermark=watermark,
    )


def save_tiny_pipeline(folder: Path, text_encoder: Any, seed: int = 0) -> Path:
    return tiny_pipeline(text_encoder, seed).save_pretrained(folder, dtype="float32")
