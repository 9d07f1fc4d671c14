"""Save and load DiT folders, and resolve Predict tier names to shipped pipeline folders.

A DiT folder (diffusers-style) holds `config.json` (`{"_class_name": "DiT", "_format_version": 1,
"_dtype": ..., **DiTConfig}`) and `model.safetensors` (weights stored in `_dtype`, loaded as float32).
Shipped Predict pipelines live at `worldfm/hub/weights/<tier>/` (a pipeline folder, see pipeline.py);
until the nano model is trained there is none, and loading `predict-nano` says how to train it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from worldfm.errors import ConfigError, WorldfmError
from worldfm.tokenizers.pretrained import (
    SHIPPED_WEIGHTS_DIR,
    load_model_weights,
    read_model_config,
    save_model_folder,
)
from worldfm.world.diffusion.config import DiTConfig
from worldfm.world.diffusion.registry import PREDICT_TIERS
from worldfm.world.pipeline_folder import MODEL_INDEX, resolve_pipeline_folder  # noqa: F401  (MODEL_INDEX: old import)
from worldfm.world.pipeline_folder import not_shipped as shipping_error

if TYPE_CHECKING:
    from worldfm.world.diffusion.dit import DiT

CLASS_NAME = "DiT"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_dit(model: DiT, path: str | os.PathLike[str], dtype: str = "bfloat16") -> Path:
    """Write `model` as a DiT folder (config.json + model.safetensors stored in `dtype`); returns the folder."""
    return save_model_folder(model, path, CLASS_NAME, FORMAT_VERSION, dtype)


def read_dit_config(folder: str | os.PathLike[str]) -> DiTConfig:
    file = Path(folder) / CONFIG_FILE
    data, _ = read_model_config(Path(folder), CLASS_NAME, FORMAT_VERSION, "a DiT")
    try:
        return DiTConfig.from_dict(data)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{file}: {exc}") from exc


def load_dit(path: str | os.PathLike[str]) -> DiT:
    from worldfm.world.diffusion.dit import DiT

    folder = Path(path)
    return load_model_weights(DiT(read_dit_config(folder)), folder).eval()


def not_shipped(name: str) -> WorldfmError:
    return shipping_error(name, SHIPPED_WEIGHTS_DIR / name, "predict", "a trained cv4x8x8-nano tokenizer")


def resolve_pipeline_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A Predict pipeline folder for a path or a shipped tier name; clear errors for anything else."""
    return resolve_pipeline_folder(
        name_or_path, PREDICT_TIERS, lambda: SHIPPED_WEIGHTS_DIR, not_shipped, "world model", name_paths=True
    )
