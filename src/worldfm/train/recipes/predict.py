"""Predict (diffusion world model) training recipe: YAML -> DiT, frozen CV tokenizer and text
encoder, sim data mixture, rectified-flow loss with conditioning dropout; train; export a pipeline.

A recipe file has these sections (unknown keys anywhere are a ConfigError naming them):

    model:        {tier: predict-nano, overrides: {depth: 6}}    # DiTConfig fields
    tokenizer:    {path: runs/cv4x8x8-nano/export}               # a trained CV tokenizer folder or tier
    text:         {max_tokens: 64}                               # MiniLM truncation
    data:         {root, datasets: [...], clip_length, clip_step, val_episodes, workers}  (recipes/data.py)
    conditioning: {latent_frames: [0, 1, 2, 3], weights: [...], text_drop: 0.1, action_drop: 0.1}
    diffusion:    {timesteps: logit_normal, logit_mean: 0.0, logit_std: 1.0, shift: 1.0}
    cache:        {latents: true, dtype: float32}                # dtype: float32, bfloat16 or int8
    train:        TrainerConfig fields (max_steps, max_minutes, batch_size, lr, ...)
    export:       {dtype: bfloat16, sampler: heun, steps: 20, guidance: 3.0, shift: 1.0, detail_restore: 0.1, fps: 10.0,
                   noise_scale: 1.0, consensus: 1}

Per clip and step the task draws (from the global torch RNG, seeded per rank and restored on
resume): how many leading latent frames are given clean (`conditioning.latent_frames` with
`weights`; 0 = Text2World), a flow time (logit-normal, optionally shifted), the noise, and the
dropout of the caption and of the actions. The loss is the mean squared velocity error over the
frames that are not given. One model thus learns Text2World, Video2World (1 latent frame = 1 video
frame, 3 = 9 frames), action-conditioned prediction, and the unconditional branch that
classifier-free guidance needs.

The model's `latent_channels`, `temporal_factor` and `spatial_factor` come from the tokenizer and
its `action_dim` from the data (the widest action of the mixture), so they are not set in the
recipe; `sample_frames` and `sample_size` must match the clips (`clip_length`, frame size).

With `cache.latents` the training and validation clips are encoded once by the frozen tokenizer
(rank 0, stored in the run folder and reused on resume), so a step costs only the DiT. `cache.dtype:
int8` stores them in a quarter of the space (a per-channel scale; decodes within about 60 dB of the
float32 latents), e.g. to carry a run's cache to a GPU machine; a float32 cache of the same clips is
converted rather than encoded again.
`run_predict_recipe` trains into `out/` and exports `out/export/`, a pipeline folder that
`PredictPipeline.from_pretrained` and `worldfm predict ... --model out/export` load.
"""

from __future__ import annotations

import functools
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
    check_cache_storage,
    check_frame_size,
    check_model_section,
    check_pipeline_export,
    export_world_pipeline,
    latent_frame_count,
    load_frozen_tokenizer,
    read_tokenizer_config,
    tier_config,
    world_run,
)
from worldfm.train.recipes.cached import cache_key as _cache_key  # noqa: F401  (the old private names)
from worldfm.train.recipes.cached import cache_matches as _cache_matches  # noqa: F401
from worldfm.train.recipes.common import load_recipe, to_plain
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
    "CacheSpec",
    "CachedClips",
    "ConditioningSpec",
    "DiffusionSpec",
    "PredictExportSpec",
    "PredictModelSpec",
    "PredictRecipe",
    "PredictTask",
    "TextSpec",
    "TokenizerSpec",
    "cached_clips",
    "encode_clips",
    "export_pipeline",
    "load_predict_recipe",
    "parse_predict_recipe",
    "run_predict_recipe",
]

CACHE_FILE = "latent_cache.safetensors"
SECTIONS = ("model", "tokenizer", "text", "data", "conditioning", "diffusion", "cache", "train", "export")
DERIVED = ("latent_channels", "temporal_factor", "spatial_factor", "action_dim")  # set from tokenizer / data


@dataclass(frozen=True)
class PredictModelSpec:
    """`model`: a tier of `worldfm.world.diffusion.PREDICT_TIERS` plus DiTConfig field overrides.

    `init_from` (optional): a pipeline folder (e.g. an earlier run's `export/`) or shipped model name
    whose transformer weights start the training instead of a random init (same architecture; a fresh
    optimizer, schedule and EMA: a second stage, e.g. over a retrained tokenizer's latents or on more data)."""

    tier: str
    overrides: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None

    def __post_init__(self) -> None:
        from worldfm.world.diffusion.config import DiTConfig
        from worldfm.world.diffusion.registry import PREDICT_TIERS

        check_model_section(self.tier, self.overrides, PREDICT_TIERS, "world model", DiTConfig, DERIVED)

    def config(
        self,
        latent_channels: int = 16,
        temporal_factor: int = 4,
        spatial_factor: int = 8,
        action_dim: int = 0,
    ) -> Any:
        from worldfm.world.diffusion.registry import get_dit_config

        return tier_config(
            get_dit_config,
            self.tier,
            self.overrides,
            latent_channels=latent_channels,
            temporal_factor=temporal_factor,
            spatial_factor=spatial_factor,
            action_dim=action_dim,
        )


@dataclass(frozen=True)
class TokenizerSpec:
    """`tokenizer`: the frozen CV tokenizer, a trained model folder (or a shipped tier name)."""

    path: str

    def config_if_readable(self) -> Any:
        """The tokenizer's config from its tier table or its folder's config.json (no weights read), or None."""
        return read_tokenizer_config(self.path)

    def load(self) -> Any:
        """The frozen CV tokenizer (eval mode, no gradients); it must carry latent statistics."""
        tok = load_frozen_tokenizer(self.path, "continuous", "diffusion model")
        if tok.config.latent_mean is None or tok.config.latent_std is None:
            raise ConfigError(
                f"tokenizer.path: {self.path} has no latent_mean/latent_std (export it with the tokenizer recipe)"
            )
        return tok


@dataclass(frozen=True)
class ConditioningSpec:
    """`conditioning`: how many leading latent frames are given (and how often), caption and action dropout."""

    latent_frames: tuple[int, ...] = (0, 1, 2, 3)
    weights: tuple[float, ...] = (0.2, 0.4, 0.1, 0.3)
    text_drop: float = 0.1
    action_drop: float = 0.1

    def __post_init__(self) -> None:
        if not self.latent_frames or len(self.latent_frames) != len(self.weights):
            raise ConfigError(
                f"conditioning.latent_frames and conditioning.weights must be non-empty and of equal length, "
                f"got {list(self.latent_frames)} and {list(self.weights)}"
            )
        if any(k < 0 for k in self.latent_frames) or len(set(self.latent_frames)) != len(self.latent_frames):
            raise ConfigError(
                f"conditioning.latent_frames must be distinct integers >= 0, got {list(self.latent_frames)}"
            )
        if any(not math.isfinite(w) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ConfigError(
                f"conditioning.weights must be >= 0 with a positive sum, got {list(self.weights)}"
            )
        for key in ("text_drop", "action_drop"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"conditioning.{key} must be in [0, 1], got {getattr(self, key)!r}")


@dataclass(frozen=True)
class DiffusionSpec:
    """`diffusion`: training time distribution (see `worldfm.world.diffusion.schedules`)."""

    timesteps: str = "logit_normal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    shift: float = 1.0

    def __post_init__(self) -> None:
        from worldfm.world.diffusion.schedules import TIMESTEP_SAMPLING

        if self.timesteps not in TIMESTEP_SAMPLING:
            raise ConfigError(
                f"diffusion.timesteps must be one of {TIMESTEP_SAMPLING}, got {self.timesteps!r}"
            )
        if not self.logit_std > 0:
            raise ConfigError(f"diffusion.logit_std must be > 0, got {self.logit_std!r}")
        if not self.shift > 0:
            raise ConfigError(f"diffusion.shift must be > 0, got {self.shift!r}")


@dataclass(frozen=True)
class CacheSpec:
    """`cache`: encode all clips once with the frozen tokenizer (`latents: true`) or every step
    (false); `dtype`: how the cache file and memory hold the latents (float32, bfloat16, or int8 with
    a per-channel scale: a quarter of the size; see `cached.CACHE_STORAGE`)."""

    latents: bool = True
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_cache_storage(self.dtype)


@dataclass(frozen=True)
class PredictExportSpec:
    """`export`: weight dtype and the default sampling settings stored with the exported pipeline."""

    dtype: str = "bfloat16"
    sampler: str = "heun"
    steps: int = 20
    guidance: float = 3.0
    shift: float = 1.0
    detail_restore: float = DEFAULT_DETAIL_RESTORE
    fps: float = 10.0
    roll_frames: int | None = None
    noise_scale: float = 1.0
    consensus: int = 1

    def __post_init__(self) -> None:
        check_pipeline_export(self.dtype, self.fps, self.sampler_config)

    def sampler_config(self) -> Any:
        """The default `SamplerConfig` stored with the exported pipeline."""
        from worldfm.world.diffusion.pipeline import SamplerConfig

        return SamplerConfig(
            self.sampler,
            self.steps,
            self.guidance,
            self.shift,
            self.detail_restore,
            noise_scale=self.noise_scale,
            consensus=self.consensus,
        )


@dataclass(frozen=True)
class PredictRecipe(WorldRecipe):
    """A parsed Predict recipe: one field per section (see the module docstring)."""

    SECTIONS: ClassVar[tuple[str, ...]] = SECTIONS
    SPECS: ClassVar[tuple[Callable[..., Any], ...]] = (
        PredictModelSpec,
        TokenizerSpec,
        TextSpec,
        parse_data,
        ConditioningSpec,
        DiffusionSpec,
        CacheSpec,
        TrainerConfig,
        PredictExportSpec,
    )  # how each of SECTIONS is built
    model: PredictModelSpec
    tokenizer: TokenizerSpec
    text: TextSpec
    data: DataSpec
    conditioning: ConditioningSpec
    diffusion: DiffusionSpec
    cache: CacheSpec
    train: TrainerConfig
    export: PredictExportSpec
    source: str | None = None

    def dit_config(self, tokenizer_config: Any, action_dim: int) -> Any:
        """The DiT config for this tokenizer and data, checked against the clips."""
        cfg = self.model.config(
            tokenizer_config.latent_dim,
            tokenizer_config.temporal_factor,
            tokenizer_config.spatial_factor,
            action_dim,
        )
        frames = latent_frame_count(self.data, cfg.temporal_factor)
        if frames != cfg.sample_frames:
            raise ConfigError(
                f"data.clip_length {self.data.clip_length} gives {frames} latent frames, but model.sample_frames is "
                f"{cfg.sample_frames} (clip_length {cfg.window_frames}); change one of them"
            )
        check_frame_size(self.data, cfg, "latent rows")
        if max(self.conditioning.latent_frames) >= cfg.sample_frames:
            raise ConfigError(
                f"conditioning.latent_frames {list(self.conditioning.latent_frames)} must leave a frame to predict "
                f"(each < {cfg.sample_frames} latent frames)"
            )
        return cfg

    world_config = dit_config


def parse_predict_recipe(data: Mapping[str, Any], source: str | None = None) -> PredictRecipe:
    """A recipe mapping -> PredictRecipe, checking every key and value (the tokenizer folder is read at run time)."""
    return PredictRecipe.parse(data, source)


def load_predict_recipe(path: str | os.PathLike[str]) -> PredictRecipe:
    """Read and check a Predict recipe YAML file."""
    return load_recipe(path, parse_predict_recipe)


# ----- latent cache -----
class CachedClips(EncodedClips):
    """Clips with their latents precomputed: item i -> {"latents" (C, T, h, w), "caption", "actions",
    "has_actions"}; `epoch_indices` is the underlying clips' visiting order (same shuffle and shards)."""

    KEY = "latents"

    @staticmethod
    def encode_batch(tokenizer: Any, video: torch.Tensor) -> torch.Tensor:
        return tokenizer.normalize_latents(tokenizer.encode(video)).cpu()

    @property
    def latents(self) -> torch.Tensor:
        """All clips' normalised latents `(N, C, T, h, w)` float32 (dequantised when stored as int8)."""
        if self.scale is not None:
            return self.encoded.float() * self.scale.view(1, -1, 1, 1, 1)
        return self.encoded.float()


# Every clip of `clips` (a map-style dataset of CLIP_KEYS items) -> normalised latents and the rest.
encode_clips = CachedClips.encode
# Load `path` if it holds these clips' latents for this tokenizer, else encode them (rank 0) and save.
cached_clips = CachedClips.cached


# ----- the task -----
class PredictTask(FrozenEncoderTask):
    """`TrainTask` for the diffusion world model (see the module docstring)."""

    KEY = "latents"

    def __init__(
        self,
        tokenizer: Any,
        text_encoder: Any,
        conditioning: ConditioningSpec,
        diffusion: DiffusionSpec,
        action_dim: int,
        flow_prior: str = "noise",
    ) -> None:
        self.tokenizer, self.text_encoder = tokenizer, text_encoder
        self.spec, self.diffusion, self.action_dim = conditioning, diffusion, action_dim
        self.flow_prior = flow_prior  # the DiT's `flow_prior`: where its flow starts (see DiTConfig)
        self.choices = torch.tensor(conditioning.latent_frames)
        self.weights = torch.tensor(conditioning.weights, dtype=torch.float64)

    @torch.no_grad()
    def latents(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Normalised clean latents `(B, C, T, h, w)`: cached, or encoded now by the frozen tokenizer."""
        if "latents" in batch:
            return batch["latents"].float()
        return self.tokenizer.normalize_latents(self.tokenizer.encode(batch["video"].float())).float()

    def condition(self, batch: Mapping[str, Any], z0: torch.Tensor, counts: torch.Tensor) -> Any:
        """The full condition of a batch (before dropout): captions, actions, the first `counts` frames."""
        from worldfm.world.diffusion.conditioning import Condition, frame_mask_from_counts

        fields: dict[str, Any] = {
            "latents": z0,
            "frame_mask": frame_mask_from_counts(counts, z0.shape[2], z0.device),
        }
        fields.update(self.caption_fields(list(batch["caption"]), z0.device))
        if self.action_dim:
            fields.update(actions=batch["actions"].float(), has_actions=batch["has_actions"].to(torch.bool))
        return Condition(**fields)

    def flow_loss(
        self, model: nn.Module, z0: torch.Tensor, cond: Any, t: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """Mean squared velocity error over the frames that are not given, per sample `(B,)`; `noise`
        is standard normal, centred here as the model's flow prior asks."""
        from worldfm.world.diffusion.conditioning import centre_noise
        from worldfm.world.diffusion.schedules import flow_interpolate, flow_velocity

        noise = centre_noise(noise, cond, self.flow_prior)
        pred = model(flow_interpolate(z0, noise, t), t, cond)
        free = (~cond.frame_mask)[:, None, :, None, None].to(pred.dtype).expand_as(pred)
        err = (pred.float() - flow_velocity(z0, noise)) ** 2 * free
        return err.flatten(1).sum(1) / free.flatten(1).sum(1).clamp_min(1)

    def loss(
        self, model: nn.Module, batch: Any, step: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from worldfm.world.diffusion.conditioning import conditioning_dropout
        from worldfm.world.diffusion.schedules import sample_timesteps

        z0 = self.latents(batch)
        b = z0.shape[0]
        # Per-sample draws come from the global RNG (per rank, restored on resume), as the trainer asks.
        counts = self.choices[torch.multinomial(self.weights, b, replacement=True)].to(z0.device)
        t = sample_timesteps(
            b,
            self.diffusion.timesteps,
            self.diffusion.logit_mean,
            self.diffusion.logit_std,
            self.diffusion.shift,
            device=z0.device,
        )
        noise = torch.randn_like(z0)
        cond = conditioning_dropout(
            self.condition(batch, z0, counts), self.spec.text_drop, self.spec.action_drop
        )
        per_sample = self.flow_loss(model, z0, cond, t, noise)
        return per_sample.mean(), {"given_frames": counts.float().mean()}

    @torch.no_grad()
    def validate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """Flow loss (EMA model) at fixed times t in {0.25, 0.5, 0.75} with fixed noise, as Text2World
        (no frame given) and Video2World (first latent frame given), no dropout: comparable across runs.

        With actions, `action_gain`: over the clips with actions, the Video2World flow loss with another
        clip's actions minus that with their own (the same noise), as a percentage of the latter;
        above 0 when the model uses the actions."""
        g = torch.Generator().manual_seed(1234)
        sums = {"flow_t2w": 0.0, "flow_v2w": 0.0}
        own, other = 0.0, 0.0
        n = 0
        for batch in batches:
            z0 = self.latents(batch)
            b = z0.shape[0]
            for name, k in (("flow_t2w", 0), ("flow_v2w", 1)):
                cond = self.condition(batch, z0, torch.full((b,), k, device=z0.device))
                shuffled, changed = cond.with_shuffled_actions() if k else (cond, None)
                for tv in (0.25, 0.5, 0.75):
                    noise = torch.randn(z0.shape, generator=g).to(z0.device)
                    t = torch.full((b,), tv, device=z0.device)
                    per_clip = self.flow_loss(model, z0, cond, t, noise)
                    sums[name] += float(per_clip.sum()) / 3
                    if changed is not None and bool(changed.any()):
                        own += float(per_clip[changed].sum())
                        other += float(self.flow_loss(model, z0, shuffled, t, noise)[changed].sum())
            n += b
        out = {k: v / max(n, 1) for k, v in sums.items()}
        out["flow"] = (out["flow_t2w"] + out["flow_v2w"]) / 2
        if own > 0:
            out["action_gain"] = 100.0 * (other - own) / own
        out["clips"] = float(n)
        return out


# ----- export and run -----
def _model_card(recipe: PredictRecipe, config: Any, result: TrainResult, record: dict[str, Any]) -> str:
    return (
        f"# {config.name}\n\n"
        f"Latent diffusion world model (DiT, rectified flow) over `{record['tokenizer']}` latents: "
        f"{record['parameters']:,} parameters, {config.window_frames}-frame windows at {config.resolution} px; "
        f"Text2World, Video2World and action-conditioned Video2World with one set of weights.\n\n"
        + data_line(recipe.data)
        + init_line(recipe.model.init_from)
        + training_line(recipe, result, record, "clips")
        + f"- Held-out flow loss (EMA): {scores_text(record.get('val'))}.\n"
        + (
            f"- Flow prior: `{config.flow_prior}` (where sampling starts; see DiTConfig).\n"
            if config.flow_prior != "noise"
            else ""
        )
        + f"- Default sampling: {recipe.export.sampler}, {recipe.export.steps} steps, guidance {recipe.export.guidance}, detail restore {recipe.export.detail_restore}, noise scale {recipe.export.noise_scale}.\n"
        + GUARDRAILS_NOTE
        + RECORD_NOTE
    )


def export_pipeline(
    trainer: Trainer,
    recipe: PredictRecipe,
    result: TrainResult,
    tokenizer: Any,
    text_encoder: Any,
    out_dir: Path,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write `out_dir`: a pipeline folder with the EMA DiT in the recipe's dtype, the tokenizer, the
    text encoder config, the default sampler settings, a model card and training_record.json."""
    from worldfm.world.diffusion.dit import DiT
    from worldfm.world.diffusion.pipeline import PredictPipeline

    sampler = recipe.export.sampler_config()
    return export_world_pipeline(
        trainer,
        recipe,
        result,
        DiT,
        PredictPipeline,
        tokenizer,
        text_encoder,
        sampler,
        _model_card,
        out_dir,
        log,
    )


def latent_cache(recipe: PredictRecipe) -> Callable[..., Any] | None:
    """The recipe's latent cache builder (`cached_clips` with its `cache.dtype`), None without `cache.latents`."""
    return functools.partial(cached_clips, storage=recipe.cache.dtype) if recipe.cache.latents else None


def run_predict_recipe(
    recipe: PredictRecipe,
    out: str | os.PathLike[str],
    resume: bool = True,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train the world model from `recipe` into run folder `out` and export the pipeline to `out/export`.

    Works alone or under torchrun (DDP; data sharded by rank; rank 0 encodes the cache and writes).
    Returns a summary dict (steps, stop reason, wall time, val scores, export path on rank 0)."""
    from worldfm.world.diffusion.dit import DiT

    fingerprint: dict[str, Any] = {"diffusion": to_plain(recipe.diffusion)}
    if recipe.cache.dtype != "float32":  # (absent otherwise: earlier runs keep resuming)
        fingerprint["cache_dtype"] = recipe.cache.dtype
    prepare = world_run(
        recipe,
        cache=latent_cache(recipe),
        cache_file=CACHE_FILE,
        network=DiT,
        task=lambda tok, text, config, action_dim: PredictTask(
            tok, text, recipe.conditioning, recipe.diffusion, action_dim, config.flow_prior
        ),
        fingerprint=fingerprint,
        unit="clip",
        export=lambda trainer, result, tok, text, out_dir, say: export_pipeline(
            trainer, recipe, result, tok, text, out_dir, log=say
        ),
    )
    return run_training(recipe, out, prepare, resume=resume, device=device, log=log)
