"""Autoregressive world model training recipe: YAML -> ARTransformer, frozen DV tokenizer and text
encoder, sim data mixture, next-token cross-entropy per FSQ level with conditioning dropout; train;
export a pipeline.

A recipe file has these sections (unknown keys anywhere are a ConfigError naming them):

    model:        {tier: ar-nano, overrides: {depth: 4}}        # ARConfig fields
    tokenizer:    {path: runs/dv4x8x8-nano/export}              # a trained DV tokenizer folder or tier
    text:         {max_tokens: 64}                              # MiniLM truncation
    data:         {root, datasets: [...], clip_length, clip_step, val_episodes, workers}  (recipes/data.py)
    conditioning: {text_drop: 0.1, action_drop: 0.1, start_weight: 0.5}
    cache:        {tokens: true}
    train:        TrainerConfig fields (max_steps, max_minutes, batch_size, lr, ...)
    export:       {dtype: bfloat16, temperature: 1.0, top_k: 0, top_p: 1.0, guidance: 1.0, detail_restore: 0.1, fps: 10.0,
                   roll_frames: null, consensus: 1}

Windows. A clip of `clip_length` video frames is `1 + (clip_length - 1) / tf` latent frames; the
model trains on windows of `sample_frames` of them. Each batch takes one window start (drawn from
the trainer's per-step generator, the same on every rank): the clip's first latent frame (a single
image, as in Text2World and Video2World) with probability `conditioning.start_weight`, else a
uniformly drawn later one (as the rolling windows of long generations start). Clips exactly one
window long always start at 0. The actions of a window are those reaching its latent frames 1..;
its first frame gets the "reached by no action" embedding, as at generation time.

Loss: the cross-entropy of every token of the window, one term per FSQ level, summed over levels
(nats per token). Captions and actions are dropped per sample (`text_drop`, `action_drop`, from the
global torch RNG, per rank and restored on resume) so one model learns Text2World, Video2World,
action-conditioned prediction and the unconditional branch that classifier-free guidance needs.

The model's `fsq_levels`, `temporal_factor` and `spatial_factor` come from the tokenizer and its
`action_dim` from the data. With `cache.tokens` the clips are encoded once by the frozen tokenizer
(rank 0, stored in the run folder and reused on resume), so a step costs only the transformer.
`run_ar_recipe` trains into `out/` and exports `out/export/`, a pipeline folder that
`ARPipeline.from_pretrained` and `worldfm predict ... --model out/export` load.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from worldfm.errors import ConfigError
from worldfm.train.recipes.cached import (
    CLIP_KEYS,
    EncodedClips,
    FrozenEncoderTask,
    TextSpec,
    WorldRecipe,
    check_frame_size,
    check_model_section,
    check_pipeline_export,
    check_tokenizer_kind,
    export_world_pipeline,
    latent_frame_count,
    load_frozen_tokenizer,
    read_tokenizer_config,
    tier_config,
    world_run,
)
from worldfm.train.recipes.common import load_recipe
from worldfm.train.recipes.data import DataSpec, parse_data
from worldfm.train.recipes.run import (
    EXPORT_DIR,
    GUARDRAILS_NOTE,
    RECORD_FILE,
    RECORD_NOTE,
    data_line,
    init_line,
    run_training,
    scores_text,
    training_line,
)
from worldfm.train.trainer import Trainer, TrainerConfig, TrainResult
from worldfm.world.detail import DEFAULT_DETAIL_RESTORE

__all__ = [
    "CACHE_FILE",
    "CLIP_KEYS",
    "EXPORT_DIR",
    "RECORD_FILE",
    "ARConditioningSpec",
    "ARExportSpec",
    "ARModelSpec",
    "ARRecipe",
    "ARTask",
    "CachedTokens",
    "DVTokenizerSpec",
    "TokenCacheSpec",
    "cached_tokens",
    "encode_clips",
    "export_pipeline",
    "load_ar_recipe",
    "parse_ar_recipe",
    "run_ar_recipe",
]

CACHE_FILE = "token_cache.safetensors"
SECTIONS = ("model", "tokenizer", "text", "data", "conditioning", "cache", "train", "export")
DERIVED = ("fsq_levels", "temporal_factor", "spatial_factor", "action_dim")  # set from tokenizer / data


@dataclass(frozen=True)
class ARModelSpec:
    """`model`: a tier of `worldfm.world.autoregressive.AR_TIERS` plus ARConfig field overrides.

    `init_from` (optional): a pipeline folder (e.g. an earlier run's `export/`) or shipped model name
    whose transformer weights start the training instead of a random init (same architecture; a fresh
    optimizer, schedule and EMA: a second stage, e.g. over a retrained tokenizer's latents or on more data)."""

    tier: str
    overrides: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None

    def __post_init__(self) -> None:
        from worldfm.world.autoregressive.config import ARConfig
        from worldfm.world.autoregressive.registry import AR_TIERS

        check_model_section(
            self.tier, self.overrides, AR_TIERS, "autoregressive world model", ARConfig, DERIVED
        )

    def config(self, tokenizer_config: Any, action_dim: int = 0) -> Any:
        from worldfm.world.autoregressive.registry import get_ar_config

        return tier_config(
            get_ar_config,
            self.tier,
            self.overrides,
            fsq_levels=tuple(tokenizer_config.fsq_levels),
            temporal_factor=tokenizer_config.temporal_factor,
            spatial_factor=tokenizer_config.spatial_factor,
            action_dim=action_dim,
        )


@dataclass(frozen=True)
class DVTokenizerSpec:
    """`tokenizer`: the frozen DV tokenizer, a trained model folder (or a shipped tier name)."""

    path: str

    def config_if_readable(self) -> Any:
        """The tokenizer's config from its folder's config.json or its tier table (no weights read), or None;
        a CV tokenizer is a ConfigError."""
        cfg = read_tokenizer_config(self.path)
        if cfg is not None:
            check_tokenizer_kind(self.path, cfg, "discrete", "autoregressive model")
        return cfg

    def load(self) -> Any:
        """The frozen DV tokenizer (eval mode, no gradients)."""
        self.config_if_readable()
        return load_frozen_tokenizer(self.path, "discrete", "autoregressive model")


@dataclass(frozen=True)
class ARConditioningSpec:
    """`conditioning`: caption and action dropout, and how often a window starts at a clip's first frame."""

    text_drop: float = 0.1
    action_drop: float = 0.1
    start_weight: float = 0.5

    def __post_init__(self) -> None:
        for key in ("text_drop", "action_drop", "start_weight"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"conditioning.{key} must be in [0, 1], got {getattr(self, key)!r}")


@dataclass(frozen=True)
class TokenCacheSpec:
    """`cache`: encode all clips once with the frozen tokenizer (true) or every step (false)."""

    tokens: bool = True


@dataclass(frozen=True)
class ARExportSpec:
    """`export`: weight dtype and the default sampling settings stored with the exported pipeline."""

    dtype: str = "bfloat16"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    guidance: float = 1.0
    detail_restore: float = DEFAULT_DETAIL_RESTORE
    fps: float = 10.0
    roll_frames: int | None = None
    consensus: int = 1

    def __post_init__(self) -> None:
        check_pipeline_export(self.dtype, self.fps, self.sampling_config)

    def sampling_config(self) -> Any:
        """The default `ARSamplingConfig` stored with the exported pipeline."""
        from worldfm.world.autoregressive.sampling import ARSamplingConfig

        return ARSamplingConfig(
            self.temperature,
            self.top_k,
            self.top_p,
            self.guidance,
            self.detail_restore,
            consensus=self.consensus,
        )


@dataclass(frozen=True)
class ARRecipe(WorldRecipe):
    """A parsed AR recipe: one field per section (see the module docstring)."""

    SECTIONS: ClassVar[tuple[str, ...]] = SECTIONS
    SPECS: ClassVar[tuple[Callable[..., Any], ...]] = (
        ARModelSpec,
        DVTokenizerSpec,
        TextSpec,
        parse_data,
        ARConditioningSpec,
        TokenCacheSpec,
        TrainerConfig,
        ARExportSpec,
    )  # how each of SECTIONS is built
    model: ARModelSpec
    tokenizer: DVTokenizerSpec
    text: TextSpec
    data: DataSpec
    conditioning: ARConditioningSpec
    cache: TokenCacheSpec
    train: TrainerConfig
    export: ARExportSpec
    source: str | None = None

    def ar_config(self, tokenizer_config: Any, action_dim: int) -> Any:
        """The transformer config for this tokenizer and data, checked against the clips."""
        cfg = self.model.config(tokenizer_config, action_dim)
        frames = latent_frame_count(self.data, cfg.temporal_factor)
        if frames < cfg.sample_frames:
            raise ConfigError(
                f"data.clip_length {self.data.clip_length} gives {frames} latent frames, fewer than model.sample_frames "
                f"{cfg.sample_frames} (clip_length >= {cfg.window_frames}); change one of them"
            )
        check_frame_size(self.data, cfg, "token rows")
        return cfg

    world_config = ar_config


def parse_ar_recipe(data: Mapping[str, Any], source: str | None = None) -> ARRecipe:
    """A recipe mapping -> ARRecipe, checking every key and value (the tokenizer folder is read at run time)."""
    return ARRecipe.parse(data, source)


def load_ar_recipe(path: str | os.PathLike[str]) -> ARRecipe:
    """Read and check an AR recipe YAML file."""
    return load_recipe(path, parse_ar_recipe)


# ----- token cache -----
class CachedTokens(EncodedClips):
    """Clips with their DV tokens precomputed: item i -> {"tokens" (T, h, w) int64, "caption", "actions",
    "has_actions"}; `epoch_indices` is the underlying clips' visiting order (same shuffle and shards)."""

    KEY = "tokens"

    @staticmethod
    def encode_batch(tokenizer: Any, video: torch.Tensor) -> torch.Tensor:
        return tokenizer.encode(video).to(torch.int32).cpu()  # (b, T, h, w); 64K codes fit int32

    @property
    def tokens(self) -> torch.Tensor:
        """All clips' tokens `(N, T, h, w)` int32 (as stored)."""
        return self.encoded

    def encoding(self, i: int) -> torch.Tensor:
        return self.encoded[i].long()


# Every clip of `clips` (a map-style dataset of CLIP_KEYS items) -> int32 DV tokens and the rest.
encode_clips = CachedTokens.encode
# Load `path` if it holds these clips' tokens for this tokenizer, else encode them (rank 0) and save.
cached_tokens = CachedTokens.cached


# ----- the task -----
class ARTask(FrozenEncoderTask):
    """`TrainTask` for the autoregressive world model (see the module docstring)."""

    KEY = "tokens"

    def __init__(
        self, tokenizer: Any, text_encoder: Any, conditioning: ARConditioningSpec, config: Any
    ) -> None:
        self.tokenizer, self.text_encoder, self.spec, self.config = (
            tokenizer,
            text_encoder,
            conditioning,
            config,
        )

    @torch.no_grad()
    def tokens(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """DV tokens `(B, T_clip, h, w)` int64: cached, or encoded now by the frozen tokenizer."""
        if "tokens" in batch:
            return batch["tokens"].long()
        return self.tokenizer.encode(batch["video"].float()).long()

    def window_start(self, clip_frames: int, generator: torch.Generator) -> int:
        """A window start in latent frames: 0 with probability `start_weight`, else uniform over the rest."""
        last = clip_frames - self.config.sample_frames
        u = torch.rand(2, generator=generator)
        if last <= 0 or float(u[0]) < self.spec.start_weight:
            return 0
        return 1 + int(float(u[1]) * last)

    def condition(self, batch: Mapping[str, Any], start: int, frames: int, device: torch.device) -> Any:
        """The condition of a window (before dropout): captions, and the actions reaching its frames 1..."""
        from worldfm.world.diffusion.conditioning import Condition

        fields: dict[str, Any] = self.caption_fields(list(batch["caption"]), device)
        if self.config.action_dim:
            tf = self.config.temporal_factor
            rows = batch["actions"].float()[:, start * tf : (start + frames - 1) * tf]
            fields.update(actions=rows, has_actions=batch["has_actions"].to(torch.bool))
        return Condition(**fields)

    def loss(
        self, model: nn.Module, batch: Any, step: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from worldfm.world.autoregressive.transformer import ar_loss
        from worldfm.world.diffusion.conditioning import conditioning_dropout

        tokens = self.tokens(batch)
        frames = self.config.sample_frames
        start = self.window_start(tokens.shape[1], generator)  # the same on every rank (shapes agree)
        window = tokens[:, start : start + frames]
        cond = conditioning_dropout(
            self.condition(batch, start, frames, tokens.device), self.spec.text_drop, self.spec.action_drop
        )
        per_sample = ar_loss(model(window, cond), window, self.config.fsq_levels)
        return per_sample.mean(), {"window_start": torch.tensor(float(start))}

    @torch.no_grad()
    def validate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """Cross-entropy (EMA model, nats per token summed over FSQ levels) of the first window of each
        clip, with its caption and actions (`ce`) and without (`ce_uncond`); `bits_per_token` from `ce`.

        With actions, `action_gain`: over the clips with actions, the cross-entropy with another clip's
        actions minus that with their own, as a percentage of the latter; above 0 when the model uses
        the actions."""
        from worldfm.world.autoregressive.transformer import ar_loss

        sums = {"ce": 0.0, "ce_uncond": 0.0}
        own, other = 0.0, 0.0
        n = 0
        frames = self.config.sample_frames
        levels = self.config.fsq_levels
        for batch in batches:
            tokens = self.tokens(batch)
            window = tokens[:, :frames]
            cond = self.condition(batch, 0, frames, tokens.device)
            per_clip = ar_loss(model(window, cond), window, levels)
            sums["ce"] += float(per_clip.sum())
            unc = cond.unconditional()
            sums["ce_uncond"] += float(ar_loss(model(window, unc), window, levels).sum())
            shuffled, changed = cond.with_shuffled_actions()
            if bool(changed.any()):
                own += float(per_clip[changed].sum())
                other += float(ar_loss(model(window, shuffled), window, levels)[changed].sum())
            n += tokens.shape[0]
        out = {k: v / max(n, 1) for k, v in sums.items()}
        out["bits_per_token"] = out["ce"] / math.log(2)
        if own > 0:
            out["action_gain"] = 100.0 * (other - own) / own
        out["clips"] = float(n)
        return out


# ----- export and run -----
def _model_card(recipe: ARRecipe, config: Any, result: TrainResult, record: dict[str, Any]) -> str:
    e = recipe.export
    return (
        f"# {config.name}\n\n"
        f"Autoregressive world model (decoder-only transformer, next-token prediction with one softmax per "
        f"FSQ level) over `{record['tokenizer']}` tokens: {record['parameters']:,} parameters, "
        f"{config.window_frames}-frame windows at {config.resolution} px ({config.tokens()} tokens); Text2World, "
        f"Video2World and action-conditioned Video2World with one set of weights.\n\n"
        + data_line(recipe.data)
        + init_line(recipe.model.init_from)
        + training_line(recipe, result, record, "windows")
        + f"- Held-out cross-entropy (EMA): {scores_text(record.get('val'))}.\n"
        f"- Default sampling: temperature {e.temperature}, top-k {e.top_k}, top-p {e.top_p}, guidance {e.guidance}, detail restore {e.detail_restore}.\n"
        + GUARDRAILS_NOTE
        + RECORD_NOTE
    )


def export_pipeline(
    trainer: Trainer,
    recipe: ARRecipe,
    result: TrainResult,
    tokenizer: Any,
    text_encoder: Any,
    out_dir: Path,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write `out_dir`: a pipeline folder with the EMA transformer in the recipe's dtype, the tokenizer,
    the text encoder config, the default sampling settings, a model card and training_record.json."""
    from worldfm.world.autoregressive.pipeline import ARPipeline
    from worldfm.world.autoregressive.transformer import ARTransformer

    sampling = recipe.export.sampling_config()
    return export_world_pipeline(
        trainer,
        recipe,
        result,
        ARTransformer,
        ARPipeline,
        tokenizer,
        text_encoder,
        sampling,
        _model_card,
        out_dir,
        log,
        guardrail="off",  # exporting generates nothing; loading turns the guardrail on by default
    )


def run_ar_recipe(
    recipe: ARRecipe,
    out: str | os.PathLike[str],
    resume: bool = True,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
    until: int | None = None,
) -> dict[str, Any]:
    """Train the AR world model from `recipe` into run folder `out` and export the pipeline to `out/export`.

    Works alone or under torchrun (DDP; data sharded by rank; rank 0 encodes the cache and writes).
    `until` stops (checkpointed) after that many updates without changing the schedule; a later call
    continues exactly. Returns a summary dict (steps, stop reason, wall time, per-update losses, val
    scores, export path on rank 0)."""
    from worldfm.world.autoregressive.transformer import ARTransformer

    prepare = world_run(
        recipe,
        cache=cached_tokens if recipe.cache.tokens else None,
        cache_file=CACHE_FILE,
        network=ARTransformer,
        task=lambda tok, text, config, action_dim: ARTask(tok, text, recipe.conditioning, config),
        fingerprint={},
        unit="window",
        export=lambda trainer, result, tok, text, out_dir, say: export_pipeline(
            trainer, recipe, result, tok, text, out_dir, log=say
        ),
    )
    return run_training(recipe, out, prepare, resume=resume, device=device, log=log, until=until, losses=True)
