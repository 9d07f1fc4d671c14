"""Tokenizer training recipe: YAML -> model, sim data mixture, loss; train; export the EMA weights.

A recipe file has five sections (unknown keys anywhere are a ConfigError naming them):

    model:  {tier: cv4x8x8-nano, overrides: {widths: [32, 64]}}   # any TokenizerConfig field
            (optional `init_from: runs/<earlier run>/export` or a tier name: start from those weights;
             optional `freeze: [encoder]`: a decoder-only stage that keeps the latents)
    data:   {root, datasets: [...], clip_length, clip_step, val_episodes, workers}  (recipes/data.py)
    loss:   {l1: 1.0, ssim: 0.2, gradient: 0.5, frequency: 0.0, aux: 1.0, mse: 0.0,
             image_fraction: 0.1, images_per_clip: 4}
    train:  TrainerConfig fields (max_steps, max_minutes, batch_size, lr, ...)
    export: {dtype: bfloat16, latent_stats_clips: 64}

`image_fraction` of the updates train on single frames (the causal tokenizer's image mode): each
clip of the batch gives `images_per_clip` random frames, as one-frame videos.

`run_tokenizer_recipe` trains into `out/` (checkpoints, log.jsonl) and exports `out/export/`: the EMA
model through `save_pretrained` (bf16 by default), with per-channel latent mean/std over training
clips in its config for continuous tokenizers, a model card, and `training_record.json`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from worldfm.errors import ConfigError, UnknownNameError
from worldfm.train import distributed as wdist
from worldfm.train.losses import LossWeights, reconstruction_loss
from worldfm.train.recipes.common import (
    RecipeMethods,
    build_sections,
    check_export_dtype,
    check_keys,
    load_recipe,
    to_plain,
)
from worldfm.train.recipes.data import DataSpec, build_clip_data, ensure_datasets, parse_data
from worldfm.train.recipes.run import (
    EXPORT_DIR,
    RECORD_FILE,
    RECORD_NOTE,
    RunParts,
    data_line,
    init_line,
    log_export,
    recipe_fields,
    record_json,
    run_training,
    score_exported,
    scores_text,
    seeded_model,
    training_line,
    training_record,
    warm_start,
    write_text_atomic,
)
from worldfm.train.trainer import Trainer, TrainerConfig, TrainResult

__all__ = [
    "EXPORT_DIR",
    "RECORD_FILE",
    "ExportSpec",
    "ModelSpec",
    "TokenizerLossSpec",
    "TokenizerRecipe",
    "TokenizerTask",
    "export_tokenizer",
    "latent_statistics",
    "load_tokenizer_recipe",
    "parse_tokenizer_recipe",
    "run_tokenizer_recipe",
]

SECTIONS = ("model", "data", "loss", "train", "export")


@dataclass(frozen=True)
class ModelSpec:
    """`model`: a tier of `worldfm.tokenizers.TOKENIZER_TIERS` plus field overrides.

    `init_from` (optional): a tokenizer folder (e.g. an earlier run's `export/`) or shipped tier whose
    weights start the training instead of a random init (same architecture; a fresh optimizer,
    schedule and EMA: a second training stage on new data or with a longer schedule). The one
    change allowed is a deeper encoder and/or decoder (`overrides: {depth: N, decoder_depth: M}`):
    the added residual blocks start as the identity, so the stage starts from the earlier model's
    exact reconstructions (a deeper encoder cannot be frozen).

    `freeze` (optional): parts kept fixed, e.g. `[encoder]` for a decoder-only stage: the latents
    (CV values, DV token ids) and the CV latent statistics stay those of `init_from`, so world
    models trained over them keep working with the new decoder."""

    tier: str
    overrides: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    freeze: tuple[str, ...] = ()

    FREEZABLE: ClassVar[tuple[str, ...]] = ("encoder",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "freeze", tuple(self.freeze))  # (YAML lists; types checked on parsing)
        unknown = [v for v in self.freeze if v not in self.FREEZABLE]
        if unknown:
            raise ConfigError(
                f"model.freeze: unknown part {unknown[0]!r}; expected some of {list(self.FREEZABLE)}"
            )
        if self.freeze and self.init_from is None:
            raise ConfigError("model.freeze needs model.init_from: a frozen part keeps trained weights")

    def config(self) -> Any:
        from worldfm.tokenizers import get_tokenizer_config
        from worldfm.tokenizers.config import TokenizerConfig

        known = {f.name for f in dataclasses.fields(TokenizerConfig)} - {"name"}
        check_keys(self.overrides, sorted(known), "model.overrides")
        try:
            return get_tokenizer_config(self.tier, **self.overrides)
        except UnknownNameError as exc:
            raise ConfigError(f"model.tier: {exc}") from None
        except ConfigError as exc:
            raise ConfigError(f"model: {exc}") from None


@dataclass(frozen=True)
class TokenizerLossSpec:
    """`loss`: weights of the reconstruction terms and the single-frame training mix."""

    l1: float = 1.0
    ssim: float = 0.2
    gradient: float = 0.5
    frequency: float = 0.0
    aux: float = 1.0
    mse: float = 0.0
    psnr: float = 0.0
    image_fraction: float = 0.1
    images_per_clip: int = 4

    # Fields added after runs were first saved, with the value that means "as before" (left out of
    # run fingerprints at that value, so earlier runs still resume).
    LATER_FIELDS: ClassVar[dict[str, Any]] = {"mse": 0.0, "psnr": 0.0}

    def __post_init__(self) -> None:
        if not 0.0 <= self.image_fraction <= 1.0:
            raise ConfigError(f"loss.image_fraction must be in [0, 1], got {self.image_fraction!r}")
        if self.images_per_clip < 1:
            raise ConfigError(f"loss.images_per_clip must be >= 1, got {self.images_per_clip!r}")
        try:
            _ = self.weights
        except ConfigError as exc:
            raise ConfigError(f"loss.{str(exc).removeprefix('loss weight ')}") from None

    @property
    def weights(self) -> LossWeights:
        # by name: every LossWeights field has its twin here, and positional order would go wrong silently
        return LossWeights(**{f.name: getattr(self, f.name) for f in dataclasses.fields(LossWeights)})


@dataclass(frozen=True)
class ExportSpec:
    """`export`: weight dtype of the exported model and clips used for the latent statistics."""

    dtype: str = "bfloat16"
    latent_stats_clips: int = 64

    def __post_init__(self) -> None:
        check_export_dtype(self.dtype)
        if self.latent_stats_clips < 1:
            raise ConfigError(f"export.latent_stats_clips must be >= 1, got {self.latent_stats_clips!r}")


@dataclass(frozen=True)
class TokenizerRecipe(RecipeMethods):
    """A parsed tokenizer recipe: one field per section (see the module docstring)."""

    SECTIONS: ClassVar[tuple[str, ...]] = SECTIONS
    model: ModelSpec
    data: DataSpec
    loss: TokenizerLossSpec
    train: TrainerConfig
    export: ExportSpec
    source: str | None = None  # the file it came from

    def tokenizer_config(self) -> Any:
        return self.model.config()


def parse_tokenizer_recipe(data: Mapping[str, Any], source: str | None = None) -> TokenizerRecipe:
    """A recipe mapping -> TokenizerRecipe, checking every key and value and the model/data fit."""
    # (`build` already refuses `model.overrides` that is not a mapping, so no per-section check is needed here.)
    specs = dict(
        zip(SECTIONS, (ModelSpec, parse_data, TokenizerLossSpec, TrainerConfig, ExportSpec), strict=True)
    )
    recipe = TokenizerRecipe(**build_sections(data, specs, ("model", "data")), source=source)
    model = recipe.model
    cfg = recipe.tokenizer_config()
    tf, sf = cfg.temporal_factor, cfg.spatial_factor
    if (recipe.data.clip_length - 1) % tf:
        raise ConfigError(
            f"data.clip_length must be 1 + k*{tf} for tokenizer {model.tier} (temporal factor {tf}), "
            f"got {recipe.data.clip_length}"
        )
    if recipe.data.size % sf:
        raise ConfigError(
            f"data.datasets size must be a multiple of {sf} for tokenizer {model.tier}, got {recipe.data.size}"
        )
    if recipe.loss.ssim > 0 and recipe.data.size < 11:
        raise ConfigError(
            f"loss.ssim needs frames of at least 11 px, data.datasets size is {recipe.data.size}"
        )
    return recipe


def load_tokenizer_recipe(path: str | os.PathLike[str]) -> TokenizerRecipe:
    """Read and check a tokenizer recipe YAML file."""
    return load_recipe(path, parse_tokenizer_recipe)


class TokenizerTask:
    """`TrainTask` for tokenizers: reconstruction loss on clips (or on single frames, sometimes)."""

    def __init__(self, loss: TokenizerLossSpec) -> None:
        self.spec = loss
        self.weights = loss.weights

    def select_input(self, video: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The clip batch `(B, 3, T, H, W)`, or with probability `image_fraction` a batch of
        `B * images_per_clip` single frames `(B*k, 3, 1, H, W)` drawn from it."""
        if (
            self.spec.image_fraction <= 0
            or torch.rand((), generator=generator).item() >= self.spec.image_fraction
        ):
            return video
        b, t, k = video.shape[0], video.shape[2], self.spec.images_per_clip
        frames = torch.randint(t, (b, k), generator=generator).to(video.device)
        picked = video[torch.arange(b, device=video.device)[:, None], :, frames]  # (B, k, 3, H, W)
        return picked.flatten(0, 1).unsqueeze(2)  # (B*k, 3, 1, H, W)

    def loss(
        self, model: nn.Module, batch: Any, step: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        video = self.select_input(batch["video"], generator)
        out = model(video)
        return reconstruction_loss(out.reconstruction, video, self.weights, out.aux_loss)

    def batch_size(self, batch: Any) -> int:
        return int(batch["video"].shape[0])

    def validate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """Mean PSNR (dB), SSIM and L1 of the reconstructions (clamped to [-1, 1]) over the clips."""
        from worldfm.video.metrics import psnr, ssim

        psnrs, ssims, l1s = [], [], []
        for batch in batches:
            video = batch["video"]
            rec = model(video).reconstruction.float().clamp(-1, 1)
            psnrs.extend(psnr(rec, video).per_video.tolist())
            ssims.extend(ssim(rec, video).per_video.tolist())
            l1s.extend((rec - video).abs().flatten(1).mean(1).tolist())
        n = max(len(psnrs), 1)
        return {
            "psnr": sum(psnrs) / n,
            "ssim": sum(ssims) / n,
            "l1": sum(l1s) / n,
            "clips": float(len(psnrs)),
        }


@torch.no_grad()
def latent_statistics(
    model: nn.Module, clips: Any, count: int, batch_size: int, device: torch.device
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of CV latents over `count` clips spread evenly over `clips`."""
    n = len(clips)
    positions = sorted({int(i * n / min(count, n)) for i in range(min(count, n))})
    total = sq = None
    elems = 0
    model.eval()
    for lo in range(0, len(positions), batch_size):
        video = torch.stack([clips[p]["video"] for p in positions[lo : lo + batch_size]]).to(device)
        z = model.encode(video).double()  # (B, C, t, h, w)
        zc = z.transpose(0, 1).flatten(1)  # (C, N)
        total = zc.sum(1) if total is None else total + zc.sum(1)
        sq = (zc**2).sum(1) if sq is None else sq + (zc**2).sum(1)
        elems += zc.shape[1]
    mean = total / elems
    std = (sq / elems - mean**2).clamp_min(1e-12).sqrt()
    return [float(v) for v in mean], [float(v) for v in std]


def _model_card(recipe: TokenizerRecipe, config: Any, result: TrainResult, record: dict[str, Any]) -> str:
    scores = scores_text(record.get("val_exported") or record.get("val"))
    kind = "continuous (CV)" if config.kind == "continuous" else "discrete (DV, FSQ)"
    return (
        f"# {config.name}\n\n"
        f"Causal video tokenizer, {kind}, {config.temporal_factor}x{config.spatial_factor}x{config.spatial_factor} "
        f"compression, {record['parameters']:,} parameters.\n\n"
        + data_line(recipe.data, held_out=True)
        + init_line(recipe.model.init_from)
        + freeze_line(recipe.model.freeze)
        + training_line(recipe, result, record, "clips", extra=f" (x{recipe.train.grad_accum} accumulation)")
        + f"- Held-out scores (EMA, exported {recipe.export.dtype} weights): {scores}.\n\n"
        + RECORD_NOTE
    )


def freeze_line(freeze: tuple[str, ...]) -> str:
    """The model card's line on frozen parts ("" when none)."""
    if "encoder" not in freeze:
        return ""
    return (
        "- Encoder frozen at the initial weights: the latents (and their statistics) are those of the "
        "initial model, only the decoder trained; world models over that model can take this decoder.\n"
    )


def added_blocks(source: Any, target: Any, name: str) -> list[str]:
    """State-dict prefixes of the residual blocks `target` (a TokenizerConfig) adds to `source` when it
    only deepens the encoder (`depth`) and/or the decoder (`decoder_depth`); [] when the architectures
    agree. The added blocks start as the identity (their residual branch is zero at init), so the
    grown model reconstructs exactly as `source` does. Any other difference is left to `warm_start`'s
    shape check, except fewer blocks than the source's, refused here with a clear message."""
    levels = len(target.widths)
    prefixes: list[str] = []
    for part, have, want, field_name in (
        ("encoder", source.depth, target.depth, "depth"),
        ("decoder", source.blocks_per_decoder_level, target.blocks_per_decoder_level, "decoder_depth"),
    ):
        if want < have:
            raise ConfigError(
                f"model.init_from {name!r} has {have} {part} blocks per level; a stage can add blocks, "
                f"not remove them ({field_name} {want})"
            )
        prefixes += [f"{part}.blocks.{i}.{j}." for i in range(levels) for j in range(have, want)]
    return prefixes


def export_tokenizer(
    trainer: Trainer,
    recipe: TokenizerRecipe,
    result: TrainResult,
    train_clips: Any,
    out_dir: Path,
    log: Callable[[str], None] | None = None,
    latent_stats: tuple[list[float], list[float]] | None = None,
) -> Path:
    """Write `out_dir`: the EMA weights in the recipe's dtype, (CV) per-channel latent mean/std in the
    config, a model card and training_record.json. Statistics and scores are measured on the
    exported weights as they load back (i.e. after rounding to bf16), since those are what ships.
    `latent_stats` (mean, std), when given, are written instead of measured: a frozen encoder keeps
    its earlier statistics, which world models were trained with."""
    from worldfm.tokenizers import VideoTokenizer

    model = VideoTokenizer(trainer.ema.module.config)
    model.load_state_dict(trainer.ema.module.state_dict())
    model.save_pretrained(out_dir, dtype=recipe.export.dtype)
    shipped = VideoTokenizer.from_pretrained(out_dir).to(trainer.device)
    config = shipped.config
    stats: dict[str, Any] = {}
    bs = trainer.config.val_batch_size or trainer.config.batch_size
    if config.kind == "continuous":
        mean, std = latent_stats or latent_statistics(
            shipped, train_clips, recipe.export.latent_stats_clips, bs, trainer.device
        )
        config = config.replace(latent_mean=tuple(mean), latent_std=tuple(std))
        stats = {"latent_mean": mean, "latent_std": std}
    head = {"tokenizer": config.name, **recipe_fields(recipe), "seed": recipe.train.seed}
    record = training_record(trainer, result, model.num_parameters(), head, tail=stats)
    exported_scores = score_exported(trainer, shipped)
    if exported_scores is not None:
        record["val_exported"] = exported_scores
    final = VideoTokenizer(config)
    final.load_state_dict(model.state_dict())
    final.save_pretrained(
        out_dir, dtype=recipe.export.dtype, model_card=_model_card(recipe, config, result, record)
    )
    write_text_atomic(out_dir / RECORD_FILE, record_json(record))
    log_export(log, config.name, recipe.export.dtype, out_dir, exported_scores)
    return out_dir


def run_tokenizer_recipe(
    recipe: TokenizerRecipe,
    out: str | os.PathLike[str],
    resume: bool = True,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train a tokenizer from `recipe` into run folder `out` and export it to `out/export`.

    Works alone or under torchrun (one process per rank: DDP, data sharded by rank, rank 0 writes).
    Returns a summary dict (steps, stop reason, wall time, val scores, export path; on rank 0).
    """
    from worldfm.tokenizers import VideoTokenizer

    def prepare(info: wdist.DistInfo, out: Path, say: Callable[[str], None] | None) -> RunParts:
        tok_config = recipe.tokenizer_config()
        paths = ensure_datasets(recipe.data, log=say)
        train_clips, val_clips = build_clip_data(recipe.data, paths, seed=recipe.train.seed, keys=("video",))
        model = seeded_model(lambda: VideoTokenizer(tok_config), recipe.train.seed, info.rank)
        kept_stats = None
        if recipe.model.init_from is not None:
            start = VideoTokenizer.from_pretrained(recipe.model.init_from)
            new = added_blocks(start.config, tok_config, recipe.model.init_from)
            if "encoder" in recipe.model.freeze and any(p.startswith("encoder.") for p in new):
                raise ConfigError(
                    "model.freeze [encoder] with a deeper encoder (overrides.depth): the added encoder "
                    "blocks would stay the identity; unfreeze the encoder or keep its depth"
                )
            warm_start(model, start.state_dict(), recipe.model.init_from, new_prefixes=new)
            if say:
                grown = f" ({len(new)} new residual blocks start as the identity)" if new else ""
                say(f"initial weights from {recipe.model.init_from}{grown}")
            if "encoder" in recipe.model.freeze:
                model.encoder.requires_grad_(False)
                if start.config.latent_mean is not None:
                    kept_stats = (list(start.config.latent_mean), list(start.config.latent_std or ()))
                if say:
                    say("encoder frozen: only the decoder trains (the latents stay those of init_from)")
        fingerprint = {
            "model": to_plain(tok_config.to_dict()),
            "data": to_plain(recipe.data),
            "loss": to_plain(recipe.loss),
        }
        if recipe.model.init_from is not None:  # (absent otherwise: earlier runs keep resuming)
            fingerprint["init_from"] = recipe.model.init_from
        if recipe.model.freeze:
            fingerprint["freeze"] = list(recipe.model.freeze)
        banner = (
            f"{tok_config.name}: {model.num_parameters():,} parameters; {len(train_clips)} training clips, "
            f"{len(val_clips) if val_clips is not None else 0} validation clips of {recipe.data.clip_length} "
            f"frames at {recipe.data.size}px"
        )
        return RunParts(
            model,
            TokenizerTask(recipe.loss),
            train_clips,
            val_clips,
            fingerprint,
            banner,
            lambda trainer, result, out_dir, say: export_tokenizer(
                trainer, recipe, result, train_clips, out_dir, log=say, latent_stats=kept_stats
            ),
        )

    return run_training(recipe, out, prepare, resume=resume, device=device, log=log)
