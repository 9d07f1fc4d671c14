"""Autoregressive world model tiers (a literal table of `ARConfig` fields) and tier -> folder resolution.

`ar-nano`: 64 px, 17-frame windows (5 latent frames of 8x8 tokens from `dv4x8x8-nano`, 320 tokens),
6.4M parameters, sized for sampling on CPU with the KV cache; its weights ship in the package once
trained. `ar-super`: 128 px, 33-frame windows over `dv4x8x8-super` tokens (9 x 16 x 16 = 2304
tokens), for GPUs (defined and trainable, no shipped weights).

Shipped AR pipelines live at `worldfm/hub/weights/<tier>/` (a pipeline folder, see pipeline.py);
until one is trained there is none, and loading `ar-nano` says how to train it. No torch import.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from worldfm.errors import UnknownNameError, WorldfmError
from worldfm.world.autoregressive.config import ARConfig
from worldfm.world.pipeline_folder import MODEL_INDEX, resolve_pipeline_folder
from worldfm.world.pipeline_folder import not_shipped as shipping_error

AR_TIERS: dict[str, dict[str, Any]] = {
    "ar-nano": dict(width=256, depth=6, heads=4, sample_frames=5, sample_size=8),
    "ar-super": dict(width=1024, depth=20, heads=16, sample_frames=9, sample_size=16),
}

# The tokenizer tier each AR tier is trained on (the recipe's default).
TIER_TOKENIZERS: dict[str, str] = {"ar-nano": "dv4x8x8-nano", "ar-super": "dv4x8x8-super"}


AR_PIPELINE_CLASSES = ("ARPipeline", "ARText2WorldPipeline", "ARVideo2WorldPipeline")


def ar_names() -> list[str]:
    return list(AR_TIERS)


def get_ar_config(name: str, **overrides: Any) -> ARConfig:
    """The config of tier `name` with optional overrides (validated); unknown names raise UnknownNameError."""
    if name not in AR_TIERS:
        raise UnknownNameError("autoregressive world model", name, list(AR_TIERS))
    return ARConfig(**{**AR_TIERS[name], **overrides, "name": name})


def _shipped_dir() -> Path:
    from worldfm.tokenizers.pretrained import SHIPPED_WEIGHTS_DIR

    return SHIPPED_WEIGHTS_DIR


def not_shipped(name: str) -> WorldfmError:
    needs = f"a trained {TIER_TOKENIZERS.get(name, 'DV')} tokenizer"
    return shipping_error(name, _shipped_dir() / name, "ar", needs)


def is_ar_model(name_or_path: str | os.PathLike[str]) -> bool:
    """Whether `name_or_path` names an AR tier or a folder whose model_index.json names an AR pipeline class."""
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.is_dir():
        try:
            index = json.loads((path / MODEL_INDEX).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return isinstance(index, dict) and index.get("_class_name") in AR_PIPELINE_CLASSES
    return text in AR_TIERS


def resolve_ar_pipeline_path(name_or_path: str | os.PathLike[str]) -> Path:
    """An AR pipeline folder for a path or a shipped tier name; clear errors for anything else."""
    return resolve_pipeline_folder(
        name_or_path, AR_TIERS, _shipped_dir, not_shipped, "autoregressive world model"
    )
