"""Latent diffusion world model (Predict): a DiT over CV tokenizer latents trained with rectified flow.

- `DiTConfig`, `PREDICT_TIERS`, `get_dit_config`: configs and tiers (config.py, registry.py).
- `DiT`: the network, `net(x, t, cond) -> velocity` (dit.py).
- `Condition`, `conditioning_dropout`, `apply_frame_mask`: conditioning (conditioning.py).
- schedules.py and samplers.py: flow interpolation, timestep sampling, Euler / Heun /
  DPM-Solver++(2M), classifier-free guidance, multiverse noise, `sample`.
- `Text2WorldPipeline`, `Video2WorldPipeline`, `PredictPipeline`, `Guardrail`, `resolve_guardrail`,
  `SamplerConfig`, `WorldOutput`: pipelines and their folder format (pipeline.py).

Names are imported lazily, so configs and tier names resolve without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Condition": "conditioning",
    "DiT": "dit",
    "DiTConfig": "config",
    "Guardrail": "pipeline",
    "resolve_guardrail": "pipeline",
    "PREDICT_TIERS": "registry",
    "PredictPipeline": "pipeline",
    "SamplerConfig": "pipeline",
    "Text2WorldPipeline": "pipeline",
    "Video2WorldPipeline": "pipeline",
    "WorldOutput": "pipeline",
    "apply_frame_mask": "conditioning",
    "conditioning_dropout": "conditioning",
    "get_dit_config": "registry",
    "predict_names": "registry",
    "sample": "samplers",
}
__all__ = [
    "PREDICT_TIERS",
    "Condition",
    "DiT",
    "DiTConfig",
    "Guardrail",
    "PredictPipeline",
    "SamplerConfig",
    "Text2WorldPipeline",
    "Video2WorldPipeline",
    "WorldOutput",
    "apply_frame_mask",
    "conditioning_dropout",
    "get_dit_config",
    "predict_names",
    "resolve_guardrail",
    "sample",
]

if TYPE_CHECKING:
    from worldfm.world.diffusion.conditioning import Condition, apply_frame_mask, conditioning_dropout
    from worldfm.world.diffusion.config import DiTConfig
    from worldfm.world.diffusion.dit import DiT
    from worldfm.world.diffusion.pipeline import (
        Guardrail,
        PredictPipeline,
        SamplerConfig,
        Text2WorldPipeline,
        Video2WorldPipeline,
        WorldOutput,
        resolve_guardrail,
    )
    from worldfm.world.diffusion.registry import PREDICT_TIERS, get_dit_config, predict_names
    from worldfm.world.diffusion.samplers import sample


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"worldfm.world.diffusion.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'worldfm.world.diffusion' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
