"""Detail-refiner training recipe: YAML -> refiner, frozen tokenizer, sim clips; train; export.

A refiner (`worldfm.world.refiner`) learns to correct the frames a world model's tokenizer decodes,
given the last conditioning frame as decoded and as given. It trains on true clips through that
(frozen) tokenizer: the clip is encoded and decoded; a conditioning length k is drawn per clip, frame
k - 1 is the reference, and frames k .. k + horizon - 1 as decoded (and as the detail restore leaves
them) are the input, the clip's own frames the target. A world model's frames are such decoded frames
of latents it generated, so the refiner applies behind any world model over the same tokenizer.

With the optional `samples` section (`recipes.refiner_samples`), part of each batch comes instead
from a bank of a world model's own sampled futures: the frames its tokenizer decoded from the latents
it generated, against the true future. That is the refiner's input at run time, which round trips of
true clips only approximate; `model.init_from` starts from an earlier refiner (e.g. one trained on
round trips), which also hands frames on between the bank's rolling windows.

A recipe file has six sections and an optional seventh (unknown keys anywhere are a ConfigError naming them):

    model:     {name: refiner-predict-nano, channels: 32, dilations: [1, 2, 4, 8, 1], tolerance: 0.1,
                init_from: runs/<earlier run>/export}   # init_from optional
    tokenizer: {source: predict-nano}   # a world-model pipeline (its tokenizer/), or a tokenizer tier/folder
    samples:   {pipeline: predict-nano, clips: 900, val_clips: 48, ...}   # optional (refiner_samples.SamplesSpec)
    data:      {root, datasets: [...], clip_length, clip_step, val_episodes, workers}  (recipes/data.py)
    loss:      {l1: 1.0, mse: 1.0, targets_per_clip: 4, max_cond_frames: 17, horizon: 16}
    train:     TrainerConfig fields (max_steps, max_minutes, batch_size, lr, ...)
    export:    {dtype: float32}

Validation scores the EMA refiner on the held-out clips at k = 1 and k = 9 over the whole horizon:
PSNR (dB, pooled MSE) of the refined frames, of the restore alone, and the gain; with a validation
bank of samples also `psnr_samples`, `psnr_samples_restore` and `gain_samples_db` on the world
model's own frames of held-out episodes.

`run_refiner_recipe` trains into `out/` (checkpoints, log.jsonl) and exports `out/export/`: the refiner
folder (config with the tokenizer's name and decoder digest, weights, model card, training_record.json),
ready for `worldfm predict attach-refiner PIPELINE --refiner out/export`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from worldfm.errors import ConfigError, WorldfmError
from worldfm.train import distributed as wdist
from worldfm.train.recipes.common import RecipeMethods, build, check_export_dtype, load_recipe, to_plain
from worldfm.train.recipes.data import DataSpec, build_clip_data, ensure_datasets, parse_data
from worldfm.train.recipes.refiner_samples import SampleBank, SamplesSpec, build_sample_bank
from worldfm.train.recipes.run import (
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
    "RefinerExportSpec",
    "RefinerLossSpec",
    "RefinerModelSpec",
    "RefinerRecipe",
    "RefinerTask",
    "RefinerTokenizerSpec",
    "load_refiner_recipe",
    "parse_refiner_recipe",
    "run_refiner_recipe",
    "source_tokenizer",
]

SECTIONS = ("model", "tokenizer", "samples", "data", "loss", "train", "export")
VAL_COND_FRAMES = (1, 9)  # the conditioning lengths bench_predict tests


@dataclass(frozen=True)
class RefinerModelSpec:
    """`model`: the refiner's name and architecture (`worldfm.world.refiner.RefinerConfig` fields);
    `init_from` (optional): a refiner folder (e.g. an earlier run's `export/`) of the same architecture
    and decoder to start from. `init_from_other_decoder`: allow an `init_from` trained behind another
    decoder of the same latents (a decoder-only tokenizer stage): its weights start a fine-tune behind
    `tokenizer.source`'s decoder, instead of the run being refused. `warp`: add the motion head
    (`RefinerConfig.warp`); a plain refiner's `init_from` then starts it, the head at zero."""

    name: str = "refiner"
    channels: int = 32
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1)
    tolerance: float = 0.1
    init_from: str | None = None
    init_from_other_decoder: bool = False
    warp: bool = False

    # Fields added after runs were first saved, with the value that means "as before" (left out of
    # run fingerprints at that value, so earlier runs still resume).
    LATER_FIELDS: ClassVar[dict[str, Any]] = {"init_from_other_decoder": False, "warp": False}

    def __post_init__(self) -> None:
        object.__setattr__(self, "dilations", tuple(self.dilations))
        if self.init_from_other_decoder and self.init_from is None:
            raise ConfigError("model.init_from_other_decoder needs model.init_from")
        self.config()  # checks every field (errors get the section's name from the recipe parser)

    def config(self, tokenizer: str = "", digest: str = "") -> Any:
        from worldfm.world.refiner import RefinerConfig

        return RefinerConfig(
            name=self.name,
            channels=self.channels,
            dilations=self.dilations,
            tolerance=self.tolerance,
            tokenizer=tokenizer,
            decoder_digest=digest,
            warp=self.warp,
        )


@dataclass(frozen=True)
class RefinerTokenizerSpec:
    """`tokenizer`: whose decoded frames the refiner learns to correct. `source`: a world-model pipeline
    (tier name such as predict-nano or ar-nano, or a pipeline folder: its `tokenizer/`), or a tokenizer
    tier or folder."""

    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source.strip():
            raise ConfigError("tokenizer.source must name a world-model pipeline or a tokenizer")


@dataclass(frozen=True)
class RefinerLossSpec:
    """`loss`: weights of L1 and MSE (both on [-1, 1] pixels), target frames drawn per clip, the
    largest conditioning length drawn (k in 1 .. max_cond_frames) and the frames after it used."""

    l1: float = 1.0
    mse: float = 1.0
    targets_per_clip: int = 4
    max_cond_frames: int = 17
    horizon: int = 16

    def __post_init__(self) -> None:
        for key in ("l1", "mse"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"loss.{key} must be a number >= 0, got {v!r}")
        if self.l1 == 0 and self.mse == 0:
            raise ConfigError("loss: l1 and mse cannot both be 0")
        for key in ("targets_per_clip", "max_cond_frames", "horizon"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"loss.{key} must be an integer >= 1, got {v!r}")


def parse_samples(raw: Mapping[str, Any]) -> SamplesSpec | None:
    """The optional `samples` section -> `SamplesSpec`, or None when the recipe has none."""
    return build(SamplesSpec, raw, "samples") if raw else None


@dataclass(frozen=True)
class RefinerExportSpec:
    """`export`: weight dtype of the exported refiner (float32 by default: it is small)."""

    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_export_dtype(self.dtype)


@dataclass(frozen=True)
class RefinerRecipe(RecipeMethods):
    """A parsed refiner recipe: one field per section (see the module docstring)."""

    SECTIONS: ClassVar[tuple[str, ...]] = SECTIONS
    SPECS: ClassVar[tuple[Callable[..., Any], ...]] = (
        RefinerModelSpec,
        RefinerTokenizerSpec,
        parse_samples,
        parse_data,
        RefinerLossSpec,
        TrainerConfig,
        RefinerExportSpec,
    )
    REQUIRED: ClassVar[tuple[str, ...]] = ("tokenizer", "data")
    model: RefinerModelSpec
    tokenizer: RefinerTokenizerSpec
    samples: SamplesSpec | None
    data: DataSpec
    loss: RefinerLossSpec
    train: TrainerConfig
    export: RefinerExportSpec
    source: str | None = None


def parse_refiner_recipe(data: Mapping[str, Any], source: str | None = None) -> RefinerRecipe:
    """A recipe mapping -> RefinerRecipe, checking every key and value and that the clips are long
    enough for a reference frame and a target after it (the tokenizer is read at run time)."""
    recipe = RefinerRecipe.from_mapping(data, source)
    if recipe.data.clip_length < 2:
        raise ConfigError(
            f"data.clip_length must be >= 2 (a reference and a target), got {recipe.data.clip_length}"
        )
    samples = recipe.samples
    if samples is not None:
        if samples.size != recipe.data.size:  # bank and clip examples share a batch
            raise ConfigError(f"samples.size {samples.size} must equal the datasets' size {recipe.data.size}")
        need = max(samples.cond_frames) + recipe.loss.horizon
        if need > samples.episode_frames:
            raise ConfigError(
                f"samples.episode_frames must be >= the largest cond_frames + loss.horizon ({need}), "
                f"got {samples.episode_frames}"
            )
    return recipe


def load_refiner_recipe(path: str | os.PathLike[str]) -> RefinerRecipe:
    """Read and check a refiner recipe YAML file."""
    return load_recipe(path, parse_refiner_recipe)


def source_tokenizer(source: str) -> tuple[Any, str]:
    """The frozen `VideoTokenizer` of `source` (eval mode) and its name: a world-model pipeline's
    `tokenizer/` (tier or folder), else a tokenizer tier or folder."""
    from worldfm.tokenizers import VideoTokenizer
    from worldfm.world.autoregressive.registry import AR_TIERS, resolve_ar_pipeline_path
    from worldfm.world.diffusion.pretrained import resolve_pipeline_path
    from worldfm.world.diffusion.registry import PREDICT_TIERS
    from worldfm.world.pipeline_folder import MODEL_INDEX

    path = Path(source)
    folder: Path | None = None
    if (path / MODEL_INDEX).is_file():
        folder = path
    elif source in PREDICT_TIERS:
        folder = resolve_pipeline_path(source)
    elif source in AR_TIERS:
        folder = resolve_ar_pipeline_path(source)
    try:
        tok = VideoTokenizer.from_pretrained(folder / "tokenizer" if folder is not None else source)
    except WorldfmError as exc:
        raise ConfigError(f"tokenizer.source {source!r}: {exc}") from None
    return tok.eval().requires_grad_(False), tok.config.name


class RefinerTask:
    """`TrainTask` for refiners: the frozen tokenizer's round trip of each clip, a conditioning length
    and target frames drawn per clip, L1 + MSE of the refined frames against the clip's own.

    With a sample `bank` (`refiner_samples.SampleBank`), `bank_share` of each batch's clips are bank
    clips instead (at least one), `targets_per_clip` frames drawn from each; `val_bank` adds the
    samples' scores to validation."""

    def __init__(
        self,
        tokenizer: nn.Module,
        loss: RefinerLossSpec,
        tolerance: float,
        bank: SampleBank | None = None,
        bank_share: float = 0.0,
        val_bank: SampleBank | None = None,
    ) -> None:
        self.tokenizer, self.spec, self.tolerance = tokenizer, loss, tolerance
        self.bank, self.bank_share, self.val_bank = bank, bank_share, val_bank

    def unit_examples(
        self,
        generated: np.ndarray,
        decoded_ref: np.ndarray,
        given_ref: np.ndarray,
        target: np.ndarray,
        device: torch.device,
    ) -> tuple[torch.Tensor, ...]:
        """uint8 frames `(N, H, W, 3)`, each with its own reference frame -> (generated, restored,
        decoded_ref, given_ref, target), each `(N, 3, H, W)` in [-1, 1] on `device`; the restore at the
        task's tolerance (frames are independent in it)."""
        from worldfm.world.detail import restore_detail
        from worldfm.world.refiner import frames_to_unit

        rest = restore_detail(generated[:, None], decoded_ref, given_ref, self.tolerance)[:, 0]
        return tuple(frames_to_unit(x).to(device) for x in (generated, rest, decoded_ref, given_ref, target))

    def bank_examples(
        self, bank: SampleBank, picks: list[tuple[int, list[int]]], device: torch.device
    ) -> tuple[torch.Tensor, ...]:
        """`examples`' five tensors for `bank` picks `picks[b] = (bank clip, frame indices)`: each frame
        with its own window's reference frame."""
        return self.unit_examples(*bank.frames(picks), device)

    def draw_bank(self, batch: int, generator: torch.Generator) -> list[tuple[int, list[int]]]:
        """`batch` bank clips drawn at random, `targets_per_clip` frames of each."""
        frames = self.bank.arrays["generated"].shape[1]
        clips = torch.randint(len(self.bank), (batch,), generator=generator).tolist()
        return [
            (c, torch.randint(frames, (self.spec.targets_per_clip,), generator=generator).tolist())
            for c in clips
        ]

    @torch.no_grad()
    def roundtrip(self, video: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Clips `(B, 3, T, H, W)` in [-1, 1] -> (frames, decoded), each uint8 `(B, T, H, W, 3)`:
        exactly what a pipeline sees (its decoded frames are rounded to uint8 too)."""
        from worldfm.video.transforms import tensor_to_frames

        self.tokenizer.to(video.device)
        decoded = self.tokenizer.decode(self.tokenizer.encode(video.float()))
        return tensor_to_frames(video), tensor_to_frames(decoded)

    def examples(
        self,
        frames: np.ndarray,
        decoded: np.ndarray,
        picks: list[tuple[int, list[int]]],
        device: torch.device,
    ) -> tuple[torch.Tensor, ...]:
        """(generated, restored, decoded_ref, given_ref, target), each `(N, 3, H, W)` in [-1, 1], for
        `picks[b] = (k, target frame indices)` of clip b: its frame k - 1 is every target's reference."""
        gen, dref, gref, target = [], [], [], []
        for b, (k, ts) in enumerate(picks):
            g = decoded[b, ts]
            gen.append(g)
            dref.append(np.broadcast_to(decoded[b, k - 1], g.shape))
            gref.append(np.broadcast_to(frames[b, k - 1], g.shape))
            target.append(frames[b, ts])
        return self.unit_examples(*(np.concatenate(x) for x in (gen, dref, gref, target)), device)

    def draw(self, frames: int, batch: int, generator: torch.Generator) -> list[tuple[int, list[int]]]:
        """Per clip of a `frames`-frame batch: k in 1 .. min(max_cond_frames, frames - 1) and
        `targets_per_clip` frames in k .. k + horizon - 1 (within the clip)."""
        spec = self.spec
        top = min(spec.max_cond_frames, frames - 1)
        picks = []
        for _ in range(batch):
            k = 1 + int(torch.randint(top, (), generator=generator))
            span = min(spec.horizon, frames - k)
            ts = (k + torch.randint(span, (spec.targets_per_clip,), generator=generator)).tolist()
            picks.append((k, ts))
        return picks

    def loss(
        self, model: nn.Module, batch: Any, step: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        video = batch["video"]
        size = video.shape[0]
        from_bank = 0 if self.bank is None else min(size, max(1, round(self.bank_share * size)))
        parts = []
        if from_bank < size:  # true clips through the tokenizer (the batch's first ones)
            frames, decoded = self.roundtrip(video[: size - from_bank])
            picks = self.draw(video.shape[2], size - from_bank, generator)
            parts.append(self.examples(frames, decoded, picks, video.device))
        if from_bank:
            parts.append(self.bank_examples(self.bank, self.draw_bank(from_bank, generator), video.device))
        gen, rest, dref, gref, target = (torch.cat(x) for x in zip(*parts, strict=True))
        pred = model(gen, rest, dref, gref).float()
        l1 = (pred - target).abs().mean()
        mse = ((pred - target) ** 2).mean()
        return self.spec.l1 * l1 + self.spec.mse * mse, {"l1": l1.detach(), "mse": mse.detach()}

    def batch_size(self, batch: Any) -> int:
        return int(batch["video"].shape[0])

    @torch.no_grad()
    def validate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """PSNR (dB, MSE pooled over frames and clips, pixels 0..255) of the refined frames and of the
        restore alone at k = 1 and 9 over the horizon; `gain_db` = refined - restore."""
        sums = {"refined": 0.0, "restore": 0.0}
        count, clips = 0, 0
        for batch in batches:
            video = batch["video"]
            frames, decoded = self.roundtrip(video)
            t = video.shape[2]
            for k in VAL_COND_FRAMES:
                if k >= t:
                    continue
                ts = list(range(k, min(k + self.spec.horizon, t)))
                picks = [(k, ts)] * video.shape[0]
                count += _add_errors(sums, model, self.examples(frames, decoded, picks, video.device))
            clips += video.shape[0]
        if not count:
            return {"clips": float(clips)}
        scores = {**_psnr_scores(sums, count), "clips": float(clips)}
        if self.val_bank is not None:
            scores.update(self.validate_bank(model, next(iter(model.parameters())).device))
        return scores

    @torch.no_grad()
    def validate_bank(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """`psnr_samples`, `psnr_samples_restore`, `gain_samples_db`: as `validate` on the validation
        bank's world-model frames (every frame of every clip)."""
        sums = {"refined": 0.0, "restore": 0.0}
        count = 0
        frames = self.val_bank.arrays["generated"].shape[1]
        for c in range(len(self.val_bank)):
            examples = self.bank_examples(self.val_bank, [(c, list(range(frames)))], device)
            count += _add_errors(sums, model, examples)
        return _psnr_scores(sums, count, "_samples")


def _add_errors(sums: dict[str, float], model: nn.Module, examples: tuple[torch.Tensor, ...]) -> int:
    """Add to `sums` the squared errors (pixels 0..255) against the target of the refined frames (as
    the uint8 frames a pipeline hands out: "refined") and of the restore alone ("restore"); returns
    the number of values counted."""
    gen, rest, dref, gref, target = examples
    pred = model(gen, rest, dref, gref).float().clamp(-1, 1)
    quantised = ((pred + 1) * 127.5).round() / 127.5 - 1  # the uint8 frames it hands out
    for name, x in (("refined", quantised), ("restore", rest)):
        sums[name] += float((((x - target) * 127.5) ** 2).sum())
    return target.numel()


def _psnr_scores(sums: dict[str, float], count: int, suffix: str = "") -> dict[str, float]:
    """PSNR (dB) of `_add_errors` sums pooled over `count` values: `psnr{suffix}`,
    `psnr{suffix}_restore` and the gain `gain{suffix}_db` = refined - restore."""
    psnr = {k: 10 * math.log10(255.0**2 / max(v / count, 1e-12)) for k, v in sums.items()}
    return {
        f"psnr{suffix}": psnr["refined"],
        f"psnr{suffix}_restore": psnr["restore"],
        f"gain{suffix}_db": psnr["refined"] - psnr["restore"],
    }


def _samples_line(spec: Any) -> str:
    """The model card's line on the world-model samples, "" without them."""
    if spec is None:
        return ""
    return (
        f"- World-model samples: {spec.clips} futures (and {spec.val_clips} held out) sampled by "
        f"`{spec.pipeline}` from the first {'/'.join(map(str, spec.cond_frames))} frames of simulated "
        f"{', '.join(spec.scenarios)} episodes (seeds {spec.seed}..{spec.seed + len(spec.scenarios) - 1}, "
        f"unseen in training), {spec.share:.0%} of each batch.\n"
    )


def _model_card(recipe: RefinerRecipe, config: Any, result: TrainResult, record: Mapping[str, Any]) -> str:
    scores = scores_text(record.get("val_exported") or record.get("val"))
    return (
        f"# {config.name}\n\n"
        f"Detail refiner (`worldfm.world.refiner`) behind the `{config.tokenizer}` tokenizer of "
        f"`{recipe.tokenizer.source}` (decoder digest `{config.decoder_digest}`): {record['parameters']:,} "
        f"parameters, {config.channels} channels, dilations {list(config.dilations)} (receptive field "
        f"{config.receptive_field} px), trained behind the detail restore at tolerance {config.tolerance}.\n\n"
        + data_line(recipe.data, held_out=True)
        + init_line(recipe.model.init_from)
        + (
            "- The initial refiner was trained behind another decoder of the same latents; this stage "
            "moved it behind the decoder above.\n"
            if recipe.model.init_from_other_decoder
            else ""
        )
        + _samples_line(recipe.samples)
        + training_line(recipe, result, record, "clips")
        + f"- Held-out scores (EMA, exported {recipe.export.dtype} weights; k = 1 and 9, "
        f"{recipe.loss.horizon} frames): {scores}.\n\n" + RECORD_NOTE
    )


def export_refiner(
    trainer: Trainer,
    recipe: RefinerRecipe,
    result: TrainResult,
    tokenizer_name: str,
    digest: str,
    out_dir: Path,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write `out_dir`: the EMA refiner in the recipe's dtype with its tokenizer's name and decoder
    digest in the config, a model card and training_record.json (scores of the weights as they load)."""
    from worldfm.world.refiner import DetailRefiner

    config = recipe.model.config(tokenizer_name, digest)
    model = DetailRefiner(config)
    model.load_state_dict(trainer.ema.module.state_dict())
    model.save_pretrained(out_dir, dtype=recipe.export.dtype)
    shipped = DetailRefiner.from_pretrained(out_dir).to(trainer.device)
    head = {
        "refiner": config.name,
        "tokenizer": tokenizer_name,
        "decoder_digest": digest,
        **recipe_fields(recipe),
    }
    record = training_record(trainer, result, model.num_parameters(), {**head, "seed": recipe.train.seed})
    exported_scores = score_exported(trainer, shipped)
    if exported_scores is not None:
        record["val_exported"] = exported_scores
    model.save_pretrained(
        out_dir, dtype=recipe.export.dtype, model_card=_model_card(recipe, config, result, record)
    )
    write_text_atomic(out_dir / RECORD_FILE, record_json(record))
    log_export(log, config.name, recipe.export.dtype, out_dir, exported_scores)
    return out_dir


def initial_refiner(source: str, tokenizer: nn.Module, other_decoder: bool = False) -> Any:
    """`model.init_from`'s refiner (eval mode), checked to have been trained behind `tokenizer`'s decoder
    unless `other_decoder` (`model.init_from_other_decoder`)."""
    from worldfm.world.refiner import DetailRefiner, check_refiner_fits

    try:
        refiner = DetailRefiner.from_pretrained(source)
        if not other_decoder:
            check_refiner_fits(refiner, tokenizer)
    except (WorldfmError, OSError) as exc:
        raise ConfigError(f"model.init_from {source!r}: {exc}") from None
    return refiner


def sample_banks(
    recipe: RefinerRecipe,
    tokenizer: nn.Module,
    initial: Any,
    folder: Path,
    rank: int,
    say: Callable[[str], None] | None,
) -> tuple[SampleBank | None, SampleBank | None]:
    """(training, validation) banks of `recipe.samples` (`refiner_samples.build_sample_bank`): rank 0
    builds them (or reads them back), the other ranks read them after it. The pipeline's network
    samples; its tokenizer must be the recipe's; `initial` (or the restore) hands frames on between
    windows."""
    from worldfm.world.load import load_world_pipeline
    from worldfm.world.refiner import decoder_digest
    from worldfm.world.swap_decoder import check_same_latents

    spec = recipe.samples
    try:
        pipeline = load_world_pipeline(spec.pipeline, guardrail="off", watermark=False)
    except WorldfmError as exc:
        raise ConfigError(f"samples.pipeline {spec.pipeline!r}: {exc}") from None
    try:  # the same latents (config, encoder, quantiser) and the same decoder
        check_same_latents(tokenizer, pipeline.tokenizer, spec.pipeline)
        same = decoder_digest(pipeline.tokenizer) == decoder_digest(tokenizer)
    except WorldfmError:
        same = False
    if not same:
        raise ConfigError(
            f"samples.pipeline {spec.pipeline!r} works over another tokenizer than tokenizer.source "
            f"{recipe.tokenizer.source!r}"
        )
    pipeline.refiner = initial
    handoff = f"refiner {recipe.model.init_from}" if initial is not None else "restore"
    banks = []
    for turn in (0, 1):  # rank 0 builds, then the others read what it wrote
        if (rank == 0) == (turn == 0):
            banks = [
                build_sample_bank(spec, pipeline, folder, recipe.loss.horizon, handoff, split, log=say)
                for split in ("train", "val")
            ]
        wdist.barrier()
    return banks[0], banks[1]


def run_refiner_recipe(
    recipe: RefinerRecipe,
    out: str | os.PathLike[str],
    resume: bool = True,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
    until: int | None = None,
    losses: bool = False,
) -> dict[str, Any]:
    """Train a detail refiner from `recipe` into run folder `out` and export it to `out/export`.

    Works alone or under torchrun (one process per rank: DDP, data sharded by rank, rank 0 writes).
    `until` and `losses` as in `run_training`. Returns a summary dict (steps, stop reason, wall time,
    val scores, export path on rank 0)."""
    from worldfm.world.refiner import DetailRefiner, decoder_digest

    def prepare(info: wdist.DistInfo, out: Path, say: Callable[[str], None] | None) -> RunParts:
        tokenizer, tok_name = source_tokenizer(recipe.tokenizer.source)
        digest = decoder_digest(tokenizer)
        sf = tokenizer.config.spatial_factor
        if recipe.data.size % sf:
            raise ConfigError(f"data.datasets size must be a multiple of {sf} for tokenizer {tok_name}")
        paths = ensure_datasets(recipe.data, log=say)
        train_clips, val_clips = build_clip_data(recipe.data, paths, seed=recipe.train.seed, keys=("video",))
        model = seeded_model(
            lambda: DetailRefiner(recipe.model.config(tok_name, digest)), recipe.train.seed, info.rank
        )
        fingerprint: dict[str, Any] = {
            "model": recipe.model.config(tok_name, digest).to_dict(),
            "data": recipe.data,
            "loss": recipe.loss,
        }
        initial = None
        if recipe.model.init_from is not None:
            other = recipe.model.init_from_other_decoder
            initial = initial_refiner(recipe.model.init_from, tokenizer, other)
            # a plain refiner starts a warp refiner (the motion head starts at zero: no change)
            new = ("warp_head.",) if model.config.warp and not initial.config.warp else ()
            warm_start(model, initial.state_dict(), recipe.model.init_from, new)
            # (absent otherwise: earlier runs keep resuming)
            fingerprint["init_from"] = recipe.model.init_from
            fingerprint["init_from_other_decoder"] = other
            if say:
                say(f"initial refiner weights from {recipe.model.init_from}")
        banks: tuple[SampleBank | None, SampleBank | None] = (None, None)
        if recipe.samples is not None:
            banks = sample_banks(recipe, tokenizer, initial, out / "samples", info.rank, say)
            fingerprint["samples"] = recipe.samples.to_dict()
        banner = (
            f"{recipe.model.name}: {model.num_parameters():,} parameters behind {tok_name} (decoder "
            f"{digest}); {len(train_clips)} training clips, {len(val_clips) if val_clips is not None else 0} "
            f"validation clips of {recipe.data.clip_length} frames at {recipe.data.size}px"
            + (f"; world-model samples: {len(banks[0])} training clips" if banks[0] is not None else "")
        )
        return RunParts(
            model,
            RefinerTask(
                tokenizer,
                recipe.loss,
                recipe.model.tolerance,
                bank=banks[0],
                bank_share=recipe.samples.share if recipe.samples is not None else 0.0,
                val_bank=banks[1],
            ),
            train_clips,
            val_clips,
            to_plain(fingerprint),
            banner,
            lambda trainer, result, out_dir, say: export_refiner(
                trainer, recipe, result, tok_name, digest, out_dir, log=say
            ),
        )

    return run_training(
        recipe, out, prepare, resume=resume, device=device, log=log, until=until, losses=losses
    )
