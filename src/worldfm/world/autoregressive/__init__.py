"""Autoregressive world model: next-token video prediction over DV tokenizer indices.

- `ARConfig`, `AR_TIERS`, `get_ar_config`, `ar_names`: configs and tiers (config.py, registry.py).
- `ARTransformer`: the network, `net(indices, cond) -> logits per FSQ level` (transformer.py).
- `KVCache`: cached keys and values for sampling (cache.py).
- `ARSamplingConfig`, `generate_window`, `rolling_generate`, `top_k_filter`, `top_p_filter`:
  token sampling (sampling.py).
- `ARPipeline`, `ARText2WorldPipeline`, `ARVideo2WorldPipeline`: pipelines and their folder format
  (pipeline.py), with the diffusion pipelines' `generate` contract and `WorldOutput`.

Names are imported lazily, so configs and tier names resolve without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "AR_TIERS": "registry",
    "ARConfig": "config",
    "ARPipeline": "pipeline",
    "ARSamplingConfig": "sampling",
    "ARText2WorldPipeline": "pipeline",
    "ARTransformer": "transformer",
    "ARVideo2WorldPipeline": "pipeline",
    "KVCache": "cache",
    "ar_names": "registry",
    "generate_window": "sampling",
    "get_ar_config": "registry",
    "rolling_generate": "sampling",
    "top_k_filter": "sampling",
    "top_p_filter": "sampling",
}
__all__ = [
    "AR_TIERS",
    "ARConfig",
    "ARPipeline",
    "ARSamplingConfig",
    "ARText2WorldPipeline",
    "ARTransformer",
    "ARVideo2WorldPipeline",
    "KVCache",
    "ar_names",
    "generate_window",
    "get_ar_config",
    "rolling_generate",
    "top_k_filter",
    "top_p_filter",
]

if TYPE_CHECKING:
    from worldfm.world.autoregressive.cache import KVCache
    from worldfm.world.autoregressive.config import ARConfig
    from worldfm.world.autoregressive.pipeline import ARPipeline, ARText2WorldPipeline, ARVideo2WorldPipeline
    from worldfm.world.autoregressive.registry import AR_TIERS, ar_names, get_ar_config
    from worldfm.world.autoregressive.sampling import (
        ARSamplingConfig,
        generate_window,
        rolling_generate,
        top_k_filter,
        top_p_filter,
    )
    from worldfm.world.autoregressive.transformer import ARTransformer


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"worldfm.world.autoregressive.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'worldfm.world.autoregressive' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
