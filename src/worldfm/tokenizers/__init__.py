"""Causal video tokenizers: continuous (CV) and discrete (DV, FSQ), Cosmos-style.

- `TokenizerConfig`, `get_tokenizer_config(name)`, `TOKENIZER_TIERS`: configs and tiers.
- `VideoTokenizer`: the torch module; `(B, 3, 1 + k*tf, H, W)` in [-1, 1] <-> latents / indices.
- `Tokenizer`: any-size, any-length uint8 videos through tiling and temporal chunking.
- `EncodedVideo`: latents or indices plus metadata, saved as .safetensors.

Names are imported lazily (PEP 562), so configs, tiers and name resolution do not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "FSQ": "fsq",
    "TOKENIZER_TIERS": "registry",
    "EncodedVideo": "container",
    "TilingConfig": "tiling",
    "Tokenizer": "api",
    "TokenizerConfig": "config",
    "TokenizerOutput": "model",
    "VideoTokenizer": "model",
    "decode_tiled": "tiling",
    "encode_tiled": "tiling",
    "get_tokenizer_config": "registry",
    "tokenizer_names": "registry",
}
__all__ = [
    "FSQ",
    "TOKENIZER_TIERS",
    "EncodedVideo",
    "TilingConfig",
    "Tokenizer",
    "TokenizerConfig",
    "TokenizerOutput",
    "VideoTokenizer",
    "decode_tiled",
    "encode_tiled",
    "get_tokenizer_config",
    "tokenizer_names",
]

if TYPE_CHECKING:
    from worldfm.tokenizers.api import Tokenizer
    from worldfm.tokenizers.config import TokenizerConfig
    from worldfm.tokenizers.container import EncodedVideo
    from worldfm.tokenizers.fsq import FSQ
    from worldfm.tokenizers.model import TokenizerOutput, VideoTokenizer
    from worldfm.tokenizers.registry import TOKENIZER_TIERS, get_tokenizer_config, tokenizer_names
    from worldfm.tokenizers.tiling import TilingConfig, decode_tiled, encode_tiled


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"worldfm.tokenizers.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'worldfm.tokenizers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
