"""Predict (diffusion world model) tiers: a literal table of `DiTConfig` fields, DiT-style.

`predict-nano`: 64 px, 17-frame windows (5 latent frames of 8x8x16 from `cv4x8x8-nano`), sized so a
training step of batch 8 runs in about a second on 2 CPU cores; its weights ship in the package
once trained. `predict-super`: 128 px, 33-frame windows over `cv4x8x8-super` latents, for GPUs
(defined and trainable, no shipped weights).
"""

from __future__ import annotations

from typing import Any

from worldfm.errors import UnknownNameError
from worldfm.world.diffusion.config import DiTConfig

PREDICT_TIERS: dict[str, dict[str, Any]] = {
    "predict-nano": dict(
        patch_size=2,
        width=256,
        depth=8,
        heads=4,
        adaln_lora_rank=64,
        sample_frames=5,
        sample_size=8,
    ),
    "predict-super": dict(
        patch_size=2,
        width=1024,
        depth=24,
        heads=16,
        adaln_lora_rank=256,
        sample_frames=9,
        sample_size=16,
    ),
}

# The tokenizer tier each Predict tier is trained on (the recipe's default).
TIER_TOKENIZERS: dict[str, str] = {"predict-nano": "cv4x8x8-nano", "predict-super": "cv4x8x8-super"}


def predict_names() -> list[str]:
    return list(PREDICT_TIERS)


def get_dit_config(name: str, **overrides: Any) -> DiTConfig:
    """The config of tier `name` with optional overrides (validated); unknown names raise UnknownNameError."""
    if name not in PREDICT_TIERS:
        raise UnknownNameError("world model", name, list(PREDICT_TIERS))
    return DiTConfig(**{**PREDICT_TIERS[name], **overrides, "name": name})
