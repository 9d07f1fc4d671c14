"""`load_world_pipeline`: one front door to both world-model families, chosen by name or folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from worldfm.errors import UnknownNameError


def load_world_pipeline(model: str | os.PathLike[str], guardrail: Any = "default", **kwargs: Any) -> Any:
    """The pipeline for `model`: an `ARPipeline` for an AR tier (e.g. "ar-nano") or a folder whose
    model_index.json names an AR pipeline class, else a diffusion `PredictPipeline` (e.g. "predict-nano").

    `guardrail` ("default", "off" or a guardrail object) and `kwargs` (e.g. watermark=False) go to
    `from_pretrained`. Unknown names list the tiers of both families; unshipped tiers say how to train
    them; both errors come before any weights are read.
    """
    from worldfm.world.autoregressive.registry import AR_TIERS, is_ar_model, resolve_ar_pipeline_path
    from worldfm.world.diffusion.registry import PREDICT_TIERS

    text = os.fspath(model)
    is_path_like = os.sep in text or text.startswith(".") or bool(os.altsep and os.altsep in text)
    if not Path(text).exists() and not is_path_like and text not in PREDICT_TIERS and text not in AR_TIERS:
        # A bare name that is no tier: list every tier of both model families.
        raise UnknownNameError("world model", text, [*PREDICT_TIERS, *AR_TIERS])
    if is_ar_model(text):
        from worldfm.world.autoregressive.pipeline import ARPipeline

        resolve_ar_pipeline_path(text)  # fail fast on unshipped models
        return ARPipeline.from_pretrained(text, guardrail=guardrail, **kwargs)
    from worldfm.world.diffusion.pipeline import PredictPipeline
    from worldfm.world.diffusion.pretrained import resolve_pipeline_path

    resolve_pipeline_path(text)  # fail fast on unknown or unshipped models
    return PredictPipeline.from_pretrained(text, guardrail=guardrail, **kwargs)
