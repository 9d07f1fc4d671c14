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
    export:       {dtype: bfloat16, temperature: 1.0, top_k: 0, top_p: 1.0, guidance: 1.0, fps: 10.0,
                   roll_frames: null}

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

import dataclasses
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from worldfm.errors import ConfigError, UnknownNameError, WorldfmError
from worldfm.train import distributed as wdist
from worldfm.train.recipes.common import build, check_keys, load_recipe, section, to_plain
from worldfm.train.recipes.data import DataSpec, build_clip_data, ensure_datasets, parse_data
from worldfm.train.recipes.predict import TextSpec, _cache_key, _cache_matches
from worldfm.train.trainer import Trainer, TrainerConfig, TrainResult

EXPORT_DIR = "export"
RECORD_FILE = "training_record.json"
CACHE_FILE = "token_cache.safetensors"
SECTIONS = ("model", "tokenizer", "text", "data", "conditioning", "cache", "train", "export")
DERIVED = ("fsq_levels", "temporal_factor", "spatial_factor", "action_dim")  # set from tokenizer / data
CLIP_KEYS = ("video", "caption", "actions", "has_actions")


@dataclass(frozen=True)
class ARModelSpec:
    """`model`: a tier of `worldfm.world.autoregressive.AR_TIERS` plus ARConfig field overrides."""

    tier: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from worldfm.world.autoregressive.config import ARConfig
        from worldfm.world.autoregressive.registry import AR_TIERS

        if self.tier not in AR_TIERS:
            raise ConfigError(
                f"model.tier: {UnknownNameError('autoregressive world model', self.tier, list(AR_TIERS))}"
            )
        if not isinstance(self.overrides, dict):
            raise ConfigError(f"model.overrides must be a mapping, got {self.overrides!r}")
        for key in DERIVED:
            if key in self.overrides:
                raise ConfigError(
                    f"model.overrides.{key} is set from the {'data' if key == 'action_dim' else 'tokenizer'}, not the recipe"
                )
        known = sorted({f.name for f in dataclasses.fields(ARConfig)} - {"name", *DERIVED})
        check_keys(self.overrides, known, "model.overrides")

    def config(self, tokenizer_config: Any, action_dim: int = 0) -> Any:
        from worldfm.world.autoregressive.registry import get_ar_config

        try:
            return get_ar_config(
                self.tier,
                **self.overrides,
                fsq_levels=tuple(tokenizer_config.fsq_levels),
                temporal_factor=tokenizer_config.temporal_factor,
                spatial_factor=tokenizer_config.spatial_factor,
                action_dim=action_dim,
            )
        except ConfigError as exc:
            raise ConfigError(f"model: {exc}") from None


@dataclass(frozen=True)
class DVTokenizerSpec:
    """`tokenizer`: the frozen DV tokenizer, a trained model folder (or a shipped tier name)."""

    path: str

    def config_if_readable(self) -> Any:
        """The tokenizer's config from its folder's config.json or its tier table (no weights read), or None."""
        from worldfm.tokenizers.pretrained import read_config
        from worldfm.tokenizers.registry import TOKENIZER_TIERS, get_tokenizer_config

        folder = Path(self.path)
        if (folder / "config.json").is_file():
            try:
                cfg = read_config(folder)[0]
            except WorldfmError as exc:
                raise ConfigError(f"tokenizer.path: {exc}") from None
        elif self.path in TOKENIZER_TIERS:
            cfg = get_tokenizer_config(self.path)
        else:
            return None
        if cfg.kind != "discrete":
            raise ConfigError(
                f"tokenizer.path: {self.path} is a {cfg.kind} tokenizer; the autoregressive model needs a DV one"
            )
        return cfg

    def load(self) -> Any:
        from worldfm.tokenizers import VideoTokenizer

        self.config_if_readable()
        try:
            tok = VideoTokenizer.from_pretrained(self.path)
        except WorldfmError as exc:
            raise WorldfmError(
                f"tokenizer.path: {exc}. Train the tokenizer first, e.g. `worldfm train tokenizer --config "
                f"configs/tokenizer/dv4x8x8-nano.yaml --out runs/dv4x8x8-nano`"
            ) from None
        if tok.config.kind != "discrete":
            raise ConfigError(
                f"tokenizer.path: {self.path} is a {tok.config.kind} tokenizer; the autoregressive model needs a DV one"
            )
        return tok.eval().requires_grad_(False)


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
    fps: float = 10.0
    roll_frames: int | None = None

    def __post_init__(self) -> None:
        if self.dtype not in ("bfloat16", "float16", "float32"):
            raise ConfigError(f"export.dtype must be bfloat16, float16 or float32, got {self.dtype!r}")
        if not self.fps > 0:
            raise ConfigError(f"export.fps must be > 0, got {self.fps!r}")
        try:
            self.sampling_config()
        except ConfigError as exc:
            raise ConfigError(f"export.{exc}") from None

    def sampling_config(self) -> Any:
        from worldfm.world.autoregressive.sampling import ARSamplingConfig

        return ARSamplingConfig(self.temperature, self.top_k, self.top_p, self.guidance)


@dataclass(frozen=True)
class ARRecipe:
    model: ARModelSpec
    tokenizer: DVTokenizerSpec
    text: TextSpec
    data: DataSpec
    conditioning: ARConditioningSpec
    cache: TokenCacheSpec
    train: TrainerConfig
    export: ARExportSpec
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = to_plain({k: getattr(self, k) for k in SECTIONS})
        out["train"] = self.train.to_dict()
        return out

    def with_train(self, **changes: Any) -> ARRecipe:
        try:
            return dataclasses.replace(self, train=self.train.replace(**changes))
        except TypeError as exc:
            raise ConfigError(f"train: {exc}") from exc

    def ar_config(self, tokenizer_config: Any, action_dim: int) -> Any:
        """The transformer config for this tokenizer and data, checked against the clips."""
        cfg = self.model.config(tokenizer_config, action_dim)
        tf, sf = cfg.temporal_factor, cfg.spatial_factor
        if (self.data.clip_length - 1) % tf:
            raise ConfigError(
                f"data.clip_length must be 1 + k*{tf} (the tokenizer's temporal factor), got {self.data.clip_length}"
            )
        frames = 1 + (self.data.clip_length - 1) // tf
        if frames < cfg.sample_frames:
            raise ConfigError(
                f"data.clip_length {self.data.clip_length} gives {frames} latent frames, fewer than model.sample_frames "
                f"{cfg.sample_frames} (clip_length >= {cfg.window_frames}); change one of them"
            )
        if self.data.size != cfg.sample_size * sf:
            raise ConfigError(
                f"data.datasets size {self.data.size} px gives {self.data.size / sf:g} token rows, but model.sample_size is "
                f"{cfg.sample_size} ({cfg.resolution} px); change one of them"
            )
        return cfg


def parse_ar_recipe(data: Mapping[str, Any], source: str | None = None) -> ARRecipe:
    """A recipe mapping -> ARRecipe, checking every key and value (the tokenizer folder is read at run time)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a recipe must be a mapping, got {type(data).__name__}")
    check_keys(data, SECTIONS, "")
    recipe = ARRecipe(
        model=build(ARModelSpec, section(data, "model"), "model"),
        tokenizer=build(DVTokenizerSpec, section(data, "tokenizer"), "tokenizer"),
        text=build(TextSpec, section(data, "text", required=False), "text"),
        data=parse_data(section(data, "data")),
        conditioning=build(ARConditioningSpec, section(data, "conditioning", required=False), "conditioning"),
        cache=build(TokenCacheSpec, section(data, "cache", required=False), "cache"),
        train=build(TrainerConfig, section(data, "train", required=False), "train"),
        export=build(ARExportSpec, section(data, "export", required=False), "export"),
        source=source,
    )
    tok_config = recipe.tokenizer.config_if_readable()
    if tok_config is not None:
        recipe.ar_config(tok_config, 0)
    return recipe


def load_ar_recipe(path: str | os.PathLike[str]) -> ARRecipe:
    """Read and check an AR recipe YAML file."""
    return load_recipe(path, parse_ar_recipe)


# ----- token cache -----
class CachedTokens:
    """Clips with their DV tokens precomputed: item i -> {"tokens" (T, h, w) int64, "caption", "actions",
    "has_actions"}; `epoch_indices` is the underlying clips' visiting order (same shuffle and shards)."""

    def __init__(
        self,
        clips: Any,
        tokens: torch.Tensor,
        actions: torch.Tensor,
        has_actions: torch.Tensor,
        captions: list[str],
    ) -> None:
        self.clips, self.tokens, self.actions, self.has_actions, self.captions = (
            clips,
            tokens,
            actions,
            has_actions,
            captions,
        )

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = int(i)
        return {
            "tokens": self.tokens[i].long(),
            "caption": self.captions[i],
            "actions": self.actions[i],
            "has_actions": self.has_actions[i],
        }

    def epoch_indices(self, epoch: int) -> Any:
        return self.clips.epoch_indices(epoch)


@torch.no_grad()
def encode_clips(
    tokenizer: Any,
    clips: Any,
    batch_size: int,
    device: torch.device,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every clip of `clips` (a map-style dataset of CLIP_KEYS items) -> int32 DV tokens and the rest."""
    tokens, actions, has, captions = [], [], [], []
    start = time.perf_counter()
    n = len(clips)
    for lo in range(0, n, batch_size):
        items = [clips[i] for i in range(lo, min(n, lo + batch_size))]
        video = torch.stack([it["video"] for it in items]).to(device)
        tokens.append(tokenizer.encode(video).to(torch.int32).cpu())  # (b, T, h, w); 64K codes fit int32
        actions.extend(torch.as_tensor(it["actions"]) for it in items)
        has.extend(bool(it["has_actions"]) for it in items)
        captions.extend(str(it["caption"]) for it in items)
        if log and (lo // batch_size) % 50 == 49:
            log(f"  encoded {lo + len(items)}/{n} clips ({time.perf_counter() - start:.0f} s)")
    return {
        "tokens": torch.cat(tokens),
        "actions": torch.stack(actions).float(),
        "has_actions": torch.tensor(has, dtype=torch.bool),
        "captions": captions,
    }


def cached_tokens(
    tokenizer: Any,
    clips: Any,
    data: DataSpec,
    path: Path,
    batch_size: int,
    device: torch.device,
    log: Callable[[str], None] | None = None,
) -> CachedTokens:
    """Load `path` if it holds these clips' tokens for this tokenizer, else encode them (rank 0) and save."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    key = _cache_key(tokenizer, clips, data)
    if wdist.get_rank() == 0 and not _cache_matches(path, key):
        if log:
            log(f"encoding {len(clips)} clips with the frozen tokenizer into {path}")
        enc = encode_clips(tokenizer, clips, batch_size, device, log)
        tensors = {k: enc[k].contiguous() for k in ("tokens", "actions", "has_actions")}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        save_file(tensors, str(tmp), metadata={"key": key, "captions": json.dumps(enc["captions"])})
        os.replace(tmp, path)
    wdist.barrier()
    with safe_open(str(path), framework="pt") as f:
        captions = json.loads(f.metadata()["captions"])
    t = load_file(str(path))
    return CachedTokens(clips, t["tokens"], t["actions"], t["has_actions"], captions)


# ----- the task -----
class ARTask:
    """`TrainTask` for the autoregressive world model (see the module docstring)."""

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

        captions = list(batch["caption"])
        text, mask = self.text_encoder.encode(captions)
        has_text = torch.tensor([bool(c.strip()) for c in captions], device=device)  # "" = no caption
        fields: dict[str, Any] = {"text": text.to(device), "text_mask": mask.to(device) & has_text[:, None]}
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

    def batch_size(self, batch: Any) -> int:
        return int((batch["tokens"] if "tokens" in batch else batch["video"]).shape[0])

    def validate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """Cross-entropy (EMA model, nats per token summed over FSQ levels) of the first window of each
        clip, with its caption and actions (`ce`) and without (`ce_uncond`); `bits_per_token` from `ce`."""
        from worldfm.world.autoregressive.transformer import ar_loss

        sums = {"ce": 0.0, "ce_uncond": 0.0}
        n = 0
        frames = self.config.sample_frames
        for batch in batches:
            tokens = self.tokens(batch)
            window = tokens[:, :frames]
            cond = self.condition(batch, 0, frames, tokens.device)
            sums["ce"] += float(ar_loss(model(window, cond), window, self.config.fsq_levels).sum())
            unc = cond.unconditional()
            sums["ce_uncond"] += float(ar_loss(model(window, unc), window, self.config.fsq_levels).sum())
            n += tokens.shape[0]
        out = {k: v / max(n, 1) for k, v in sums.items()}
        out["bits_per_token"] = out["ce"] / math.log(2)
        out["clips"] = float(n)
        return out


# ----- export and run -----
def _model_card(recipe: ARRecipe, config: Any, result: TrainResult, record: dict[str, Any]) -> str:
    data = ", ".join(
        f"{d.scenario} ({d.episodes} episodes x {d.frames} frames, {d.size}px)" for d in recipe.data.datasets
    )
    val = ", ".join(f"{k} {v:.4g}" for k, v in (record.get("val") or {}).items()) or "not measured"
    e = recipe.export
    return (
        f"# {config.name}\n\n"
        f"Autoregressive world model (decoder-only transformer, next-token prediction with one softmax per "
        f"FSQ level) over `{record['tokenizer']}` tokens: {record['parameters']:,} parameters, "
        f"{config.window_frames}-frame windows at {config.resolution} px ({config.tokens()} tokens); Text2World, "
        f"Video2World and action-conditioned Video2World with one set of weights.\n\n"
        f"- Training data: worldfm sim mixture: {data}; clips of {recipe.data.clip_length} frames.\n"
        f"- Training: {result.step} steps of {recipe.train.batch_size} x {record['world_size']} windows, "
        f"{record['wall_seconds'] / 60:.1f} min, seed {recipe.train.seed}; weights are the EMA (decay {recipe.train.ema_decay}).\n"
        f"- Held-out cross-entropy (EMA): {val}.\n"
        f"- Default sampling: temperature {e.temperature}, top-k {e.top_k}, top-p {e.top_p}, guidance {e.guidance}.\n"
        f"- Guardrails: on by default in every pipeline (prompt pre-guard, face blur and content checks on "
        f"outputs, fail closed); outputs carry the worldfm watermark and, as mp4, a signed C2PA manifest.\n\n"
        f"Recipe and full record: `{RECORD_FILE}`.\n"
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

    ema = trainer.ema.module
    model = ARTransformer(ema.config)
    model.load_state_dict(ema.state_dict())
    pipe = ARPipeline(
        model.cpu(),
        tokenizer.cpu(),
        text_encoder,
        recipe.export.sampling_config(),
        recipe.export.fps,
        recipe.export.roll_frames,
        guardrail="off",  # exporting generates nothing; loading turns the guardrail on by default
    )
    pipe.save_pretrained(out_dir, dtype=recipe.export.dtype)
    record: dict[str, Any] = {
        "model": ema.config.name,
        "tokenizer": recipe.tokenizer.path,
        "recipe": recipe.to_dict(),
        "recipe_file": recipe.source,
        "steps": result.step,
        "stop_reason": result.stop_reason,
        "wall_seconds": round(result.wall_seconds, 1),
        "world_size": trainer.info.world_size,
        "device": str(trainer.device),
        "precision": trainer.precision,
        "parameters": model.num_parameters(),
        "val": result.val,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name, text in (
        (RECORD_FILE, json.dumps(record, indent=2) + "\n"),
        ("README.md", _model_card(recipe, ema.config, result, record)),
    ):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out_dir / name)
    if log:
        log(f"exported the pipeline ({recipe.export.dtype}) to {out_dir}")
    return out_dir


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
    from worldfm.text.encoder import TextEncoder, TextEncoderConfig
    from worldfm.world.autoregressive.transformer import ARTransformer

    out = Path(out)
    info = wdist.init_distributed(device)
    try:
        say = log if info.is_main else None
        tokenizer = recipe.tokenizer.load().to(info.device)
        text_encoder = TextEncoder(TextEncoderConfig(max_tokens=recipe.text.max_tokens), device=info.device)
        paths = ensure_datasets(recipe.data, log=say)
        train_clips, val_clips = build_clip_data(recipe.data, paths, seed=recipe.train.seed, keys=CLIP_KEYS)
        action_dim = int(train_clips[0]["actions"].shape[-1])
        config = recipe.ar_config(tokenizer.config, action_dim)
        train_data: Any = train_clips
        val_data: Any = val_clips
        if recipe.cache.tokens:
            bs = recipe.train.val_batch_size or recipe.train.batch_size
            train_data = cached_tokens(
                tokenizer, train_clips, recipe.data, out / CACHE_FILE, bs, info.device, say
            )
            if val_clips is not None:
                val_data = cached_tokens(
                    tokenizer, val_clips, recipe.data, out / f"val_{CACHE_FILE}", bs, info.device, say
                )
        torch.manual_seed(recipe.train.seed)  # same initial weights on every rank
        model = ARTransformer(config)
        torch.manual_seed(recipe.train.seed + info.rank)  # per-rank stream for dropout
        fingerprint = {
            "model": to_plain(config.to_dict()),
            "tokenizer": to_plain(tokenizer.config.to_dict()),
            "text": to_plain(recipe.text),
            "data": to_plain(recipe.data),
            "conditioning": to_plain(recipe.conditioning),
        }
        task = ARTask(tokenizer, text_encoder, recipe.conditioning, config)
        trainer = Trainer(
            model,
            task,
            train_data,
            recipe.train,
            out,
            val_data=val_data,
            dist_info=info,
            fingerprint=fingerprint,
            log=log,
        )
        if say:
            say(
                f"{config.name}: {model.num_parameters():,} parameters, {config.tokens()} tokens per window, action_dim "
                f"{action_dim}; {len(train_data)} training clips, {len(val_data) if val_data is not None else 0} "
                f"validation clips of {recipe.data.clip_length} frames at {recipe.data.size}px"
            )
        result = trainer.fit(resume=resume, until=until)
        summary: dict[str, Any] = {
            "steps": result.step,
            "stop_reason": result.stop_reason,
            "wall_seconds": round(result.wall_seconds, 1),
            "losses": [h["loss"] for h in result.history],
            "val": result.val,
            "run_dir": str(out),
        }
        if info.is_main:
            summary["export"] = str(
                export_pipeline(trainer, recipe, result, tokenizer, text_encoder, out / EXPORT_DIR, log=say)
            )
        wdist.barrier()
    except BaseException:
        wdist.cleanup(wait=False)
        raise
    wdist.cleanup()
    return summary
