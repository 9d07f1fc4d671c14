"""Predict (diffusion world model) training recipe: YAML -> DiT, frozen CV tokenizer and text
encoder, sim data mixture, rectified-flow loss with conditioning dropout; train; export a pipeline.

A recipe file has these sections (unknown keys anywhere are a ConfigError naming them):

    model:        {tier: predict-nano, overrides: {depth: 6}}    # DiTConfig fields
    tokenizer:    {path: runs/cv4x8x8-nano/export}               # a trained CV tokenizer folder or tier
    text:         {max_tokens: 64}                               # MiniLM truncation
    data:         {root, datasets: [...], clip_length, clip_step, val_episodes, workers}  (recipes/data.py)
    conditioning: {latent_frames: [0, 1, 2, 3], weights: [...], text_drop: 0.1, action_drop: 0.1}
    diffusion:    {timesteps: logit_normal, logit_mean: 0.0, logit_std: 1.0, shift: 1.0}
    cache:        {latents: true}
    train:        TrainerConfig fields (max_steps, max_minutes, batch_size, lr, ...)
    export:       {dtype: bfloat16, sampler: heun, steps: 20, guidance: 3.0, shift: 1.0, fps: 10.0}

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
(rank 0, stored in the run folder and reused on resume), so a step costs only the DiT.
`run_predict_recipe` trains into `out/` and exports `out/export/`, a pipeline folder that
`PredictPipeline.from_pretrained` and `worldfm predict ... --model out/export` load.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
from worldfm.train.trainer import Trainer, TrainerConfig, TrainResult

EXPORT_DIR = "export"
RECORD_FILE = "training_record.json"
CACHE_FILE = "latent_cache.safetensors"
SECTIONS = ("model", "tokenizer", "text", "data", "conditioning", "diffusion", "cache", "train", "export")
DERIVED = ("latent_channels", "temporal_factor", "spatial_factor", "action_dim")  # set from tokenizer / data
CLIP_KEYS = ("video", "caption", "actions", "has_actions")


@dataclass(frozen=True)
class PredictModelSpec:
    """`model`: a tier of `worldfm.world.diffusion.PREDICT_TIERS` plus DiTConfig field overrides."""

    tier: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from worldfm.world.diffusion.config import DiTConfig
        from worldfm.world.diffusion.registry import PREDICT_TIERS

        if self.tier not in PREDICT_TIERS:
            raise ConfigError(
                f"model.tier: {UnknownNameError('world model', self.tier, list(PREDICT_TIERS))}"
            )
        if not isinstance(self.overrides, dict):
            raise ConfigError(f"model.overrides must be a mapping, got {self.overrides!r}")
        for key in DERIVED:
            if key in self.overrides:
                raise ConfigError(
                    f"model.overrides.{key} is set from the {'data' if key == 'action_dim' else 'tokenizer'}, not the recipe"
                )
        known = sorted({f.name for f in dataclasses.fields(DiTConfig)} - {"name", *DERIVED})
        check_keys(self.overrides, known, "model.overrides")

    def config(
        self,
        latent_channels: int = 16,
        temporal_factor: int = 4,
        spatial_factor: int = 8,
        action_dim: int = 0,
    ) -> Any:
        from worldfm.world.diffusion.registry import get_dit_config

        try:
            return get_dit_config(
                self.tier,
                **self.overrides,
                latent_channels=latent_channels,
                temporal_factor=temporal_factor,
                spatial_factor=spatial_factor,
                action_dim=action_dim,
            )
        except ConfigError as exc:
            raise ConfigError(f"model: {exc}") from None


@dataclass(frozen=True)
class TokenizerSpec:
    """`tokenizer`: the frozen CV tokenizer, a trained model folder (or a shipped tier name)."""

    path: str

    def config_if_readable(self) -> Any:
        """The tokenizer's config from its tier table or its folder's config.json (no weights read), or None."""
        from worldfm.tokenizers.pretrained import read_config
        from worldfm.tokenizers.registry import TOKENIZER_TIERS, get_tokenizer_config

        folder = Path(self.path)
        if (folder / "config.json").is_file():
            try:
                return read_config(folder)[0]
            except WorldfmError as exc:
                raise ConfigError(f"tokenizer.path: {exc}") from None
        if self.path in TOKENIZER_TIERS:
            return get_tokenizer_config(self.path)
        return None

    def load(self) -> Any:
        from worldfm.tokenizers import VideoTokenizer

        try:
            tok = VideoTokenizer.from_pretrained(self.path)
        except WorldfmError as exc:
            raise WorldfmError(
                f"tokenizer.path: {exc}. Train the tokenizer first, e.g. `worldfm train tokenizer --config "
                f"configs/tokenizer/cv4x8x8-nano.yaml --out runs/cv4x8x8-nano`"
            ) from None
        cfg = tok.config
        if cfg.kind != "continuous":
            raise ConfigError(
                f"tokenizer.path: {self.path} is a {cfg.kind} tokenizer; the diffusion model needs a CV one"
            )
        if cfg.latent_mean is None or cfg.latent_std is None:
            raise ConfigError(
                f"tokenizer.path: {self.path} has no latent_mean/latent_std (export it with the tokenizer recipe)"
            )
        return tok.eval().requires_grad_(False)


@dataclass(frozen=True)
class TextSpec:
    """`text`: MiniLM token truncation."""

    max_tokens: int = 64

    def __post_init__(self) -> None:
        if not 2 <= self.max_tokens <= 512:
            raise ConfigError(f"text.max_tokens must be in [2, 512], got {self.max_tokens!r}")


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
    """`cache`: encode all clips once with the frozen tokenizer (true) or every step (false)."""

    latents: bool = True


@dataclass(frozen=True)
class PredictExportSpec:
    """`export`: weight dtype and the default sampling settings stored with the exported pipeline."""

    dtype: str = "bfloat16"
    sampler: str = "heun"
    steps: int = 20
    guidance: float = 3.0
    shift: float = 1.0
    fps: float = 10.0
    roll_frames: int | None = None

    def __post_init__(self) -> None:
        from worldfm.world.diffusion.pipeline import SamplerConfig

        if self.dtype not in ("bfloat16", "float16", "float32"):
            raise ConfigError(f"export.dtype must be bfloat16, float16 or float32, got {self.dtype!r}")
        if not self.fps > 0:
            raise ConfigError(f"export.fps must be > 0, got {self.fps!r}")
        try:
            SamplerConfig(self.sampler, self.steps, self.guidance, self.shift)
        except ConfigError as exc:
            raise ConfigError(f"export.{exc}") from None

    def sampler_config(self) -> Any:
        from worldfm.world.diffusion.pipeline import SamplerConfig

        return SamplerConfig(self.sampler, self.steps, self.guidance, self.shift)


@dataclass(frozen=True)
class PredictRecipe:
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

    def to_dict(self) -> dict[str, Any]:
        out = to_plain({k: getattr(self, k) for k in SECTIONS})
        out["train"] = self.train.to_dict()
        return out

    def with_train(self, **changes: Any) -> PredictRecipe:
        try:
            return dataclasses.replace(self, train=self.train.replace(**changes))
        except TypeError as exc:
            raise ConfigError(f"train: {exc}") from exc

    def dit_config(self, tokenizer_config: Any, action_dim: int) -> Any:
        """The DiT config for this tokenizer and data, checked against the clips."""
        cfg = self.model.config(
            tokenizer_config.latent_dim,
            tokenizer_config.temporal_factor,
            tokenizer_config.spatial_factor,
            action_dim,
        )
        tf, sf = cfg.temporal_factor, cfg.spatial_factor
        if (self.data.clip_length - 1) % tf:
            raise ConfigError(
                f"data.clip_length must be 1 + k*{tf} (the tokenizer's temporal factor), got {self.data.clip_length}"
            )
        frames = 1 + (self.data.clip_length - 1) // tf
        if frames != cfg.sample_frames:
            raise ConfigError(
                f"data.clip_length {self.data.clip_length} gives {frames} latent frames, but model.sample_frames is "
                f"{cfg.sample_frames} (clip_length {cfg.window_frames}); change one of them"
            )
        if self.data.size != cfg.sample_size * sf:
            raise ConfigError(
                f"data.datasets size {self.data.size} px gives {self.data.size / sf:g} latent rows, but model.sample_size is "
                f"{cfg.sample_size} ({cfg.resolution} px); change one of them"
            )
        if max(self.conditioning.latent_frames) >= cfg.sample_frames:
            raise ConfigError(
                f"conditioning.latent_frames {list(self.conditioning.latent_frames)} must leave a frame to predict "
                f"(each < {cfg.sample_frames} latent frames)"
            )
        return cfg


def parse_predict_recipe(data: Mapping[str, Any], source: str | None = None) -> PredictRecipe:
    """A recipe mapping -> PredictRecipe, checking every key and value (the tokenizer folder is read at run time)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a recipe must be a mapping, got {type(data).__name__}")
    check_keys(data, SECTIONS, "")
    recipe = PredictRecipe(
        model=build(PredictModelSpec, section(data, "model"), "model"),
        tokenizer=build(TokenizerSpec, section(data, "tokenizer"), "tokenizer"),
        text=build(TextSpec, section(data, "text", required=False), "text"),
        data=parse_data(section(data, "data")),
        conditioning=build(ConditioningSpec, section(data, "conditioning", required=False), "conditioning"),
        diffusion=build(DiffusionSpec, section(data, "diffusion", required=False), "diffusion"),
        cache=build(CacheSpec, section(data, "cache", required=False), "cache"),
        train=build(TrainerConfig, section(data, "train", required=False), "train"),
        export=build(PredictExportSpec, section(data, "export", required=False), "export"),
        source=source,
    )
    # When the tokenizer's config can be read now (a tier name or an existing folder), check that model,
    # tokenizer and clips fit; otherwise the run checks it once the tokenizer is loaded.
    tok_config = recipe.tokenizer.config_if_readable()
    if tok_config is not None:
        recipe.dit_config(tok_config, 0)
    return recipe


def load_predict_recipe(path: str | os.PathLike[str]) -> PredictRecipe:
    """Read and check a Predict recipe YAML file."""
    return load_recipe(path, parse_predict_recipe)


# ----- latent cache -----
class CachedClips:
    """Clips with their latents precomputed: item i -> {"latents" (C, T, h, w), "caption", "actions",
    "has_actions"}; `epoch_indices` is the underlying clips' visiting order (same shuffle and shards)."""

    def __init__(
        self,
        clips: Any,
        latents: torch.Tensor,
        actions: torch.Tensor,
        has_actions: torch.Tensor,
        captions: list[str],
    ) -> None:
        self.clips, self.latents, self.actions, self.has_actions, self.captions = (
            clips,
            latents,
            actions,
            has_actions,
            captions,
        )

    def __len__(self) -> int:
        return self.latents.shape[0]

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = int(i)
        return {
            "latents": self.latents[i],
            "caption": self.captions[i],
            "actions": self.actions[i],
            "has_actions": self.has_actions[i],
        }

    def epoch_indices(self, epoch: int) -> Any:
        return self.clips.epoch_indices(epoch)


def _cache_key(tokenizer: Any, clips: Any, data: DataSpec) -> str:
    text = json.dumps(
        {"tokenizer": to_plain(tokenizer.config.to_dict()), "data": to_plain(data), "clips": len(clips)},
        sort_keys=True,
    )
    weights = hashlib.sha256()
    for v in tokenizer.state_dict().values():
        weights.update(v.detach().cpu().float().numpy().tobytes())
    return hashlib.sha256(text.encode() + weights.digest()).hexdigest()[:16]


@torch.no_grad()
def encode_clips(
    tokenizer: Any,
    clips: Any,
    batch_size: int,
    device: torch.device,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every clip of `clips` (a map-style dataset of CLIP_KEYS items) -> normalised latents and the rest."""
    latents, actions, has, captions = [], [], [], []
    start = time.perf_counter()
    n = len(clips)
    for lo in range(0, n, batch_size):
        items = [clips[i] for i in range(lo, min(n, lo + batch_size))]
        video = torch.stack([it["video"] for it in items]).to(device)
        latents.append(tokenizer.normalize_latents(tokenizer.encode(video)).cpu())
        actions.extend(torch.as_tensor(it["actions"]) for it in items)
        has.extend(bool(it["has_actions"]) for it in items)
        captions.extend(str(it["caption"]) for it in items)
        if log and (lo // batch_size) % 50 == 49:
            log(f"  encoded {lo + len(items)}/{n} clips ({time.perf_counter() - start:.0f} s)")
    return {
        "latents": torch.cat(latents),
        "actions": torch.stack(actions).float(),
        "has_actions": torch.tensor(has, dtype=torch.bool),
        "captions": captions,
    }


def cached_clips(
    tokenizer: Any,
    clips: Any,
    data: DataSpec,
    path: Path,
    batch_size: int,
    device: torch.device,
    log: Callable[[str], None] | None = None,
) -> CachedClips:
    """Load `path` if it holds these clips' latents for this tokenizer, else encode them (rank 0) and save."""
    from safetensors.torch import load_file, save_file

    key = _cache_key(tokenizer, clips, data)
    if wdist.get_rank() == 0 and not _cache_matches(path, key):
        if log:
            log(f"encoding {len(clips)} clips with the frozen tokenizer into {path}")
        enc = encode_clips(tokenizer, clips, batch_size, device, log)
        tensors = {k: enc[k].contiguous() for k in ("latents", "actions", "has_actions")}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        save_file(tensors, str(tmp), metadata={"key": key, "captions": json.dumps(enc["captions"])})
        os.replace(tmp, path)
    wdist.barrier()
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        captions = json.loads(f.metadata()["captions"])
    t = load_file(str(path))
    return CachedClips(clips, t["latents"], t["actions"], t["has_actions"], captions)


def _cache_matches(path: Path, key: str) -> bool:
    if not path.is_file():
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("key") == key
    except Exception:  # a truncated or foreign file is simply rebuilt
        return False


# ----- the task -----
class PredictTask:
    """`TrainTask` for the diffusion world model (see the module docstring)."""

    def __init__(
        self,
        tokenizer: Any,
        text_encoder: Any,
        conditioning: ConditioningSpec,
        diffusion: DiffusionSpec,
        action_dim: int,
    ) -> None:
        self.tokenizer, self.text_encoder = tokenizer, text_encoder
        self.spec, self.diffusion, self.action_dim = conditioning, diffusion, action_dim
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
        captions = list(batch["caption"])
        text, mask = self.text_encoder.encode(captions)
        has_text = torch.tensor([bool(c.strip()) for c in captions], device=z0.device)  # "" = no caption
        fields.update(text=text.to(z0.device), text_mask=mask.to(z0.device) & has_text[:, None])
        if self.action_dim:
            fields.update(actions=batch["actions"].float(), has_actions=batch["has_actions"].to(torch.bool))
        return Condition(**fields)

    def flow_loss(
        self, model: nn.Module, z0: torch.Tensor, cond: Any, t: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """Mean squared velocity error over the frames that are not given, per sample `(B,)`."""
        from worldfm.world.diffusion.schedules import flow_interpolate, flow_velocity

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

    def batch_size(self, batch: Any) -> int:
        return int((batch["latents"] if "latents" in batch else batch["video"]).shape[0])

    def validate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        """Flow loss (EMA model) at fixed times t in {0.25, 0.5, 0.75} with fixed noise, as Text2World
        (no frame given) and Video2World (first latent frame given), no dropout: comparable across runs."""
        g = torch.Generator().manual_seed(1234)
        sums = {"flow_t2w": 0.0, "flow_v2w": 0.0}
        n = 0
        for batch in batches:
            z0 = self.latents(batch)
            b = z0.shape[0]
            for name, k in (("flow_t2w", 0), ("flow_v2w", 1)):
                cond = self.condition(batch, z0, torch.full((b,), k, device=z0.device))
                for tv in (0.25, 0.5, 0.75):
                    noise = torch.randn(z0.shape, generator=g).to(z0.device)
                    sums[name] += (
                        float(
                            self.flow_loss(
                                model, z0, cond, torch.full((b,), tv, device=z0.device), noise
                            ).sum()
                        )
                        / 3
                    )
            n += b
        out = {k: v / max(n, 1) for k, v in sums.items()}
        out["flow"] = (out["flow_t2w"] + out["flow_v2w"]) / 2
        out["clips"] = float(n)
        return out


# ----- export and run -----
def _model_card(recipe: PredictRecipe, config: Any, result: TrainResult, record: dict[str, Any]) -> str:
    data = ", ".join(
        f"{d.scenario} ({d.episodes} episodes x {d.frames} frames, {d.size}px)" for d in recipe.data.datasets
    )
    val = ", ".join(f"{k} {v:.4g}" for k, v in (record.get("val") or {}).items()) or "not measured"
    return (
        f"# {config.name}\n\n"
        f"Latent diffusion world model (DiT, rectified flow) over `{record['tokenizer']}` latents: "
        f"{record['parameters']:,} parameters, {config.window_frames}-frame windows at {config.resolution} px; "
        f"Text2World, Video2World and action-conditioned Video2World with one set of weights.\n\n"
        f"- Training data: worldfm sim mixture: {data}; clips of {recipe.data.clip_length} frames.\n"
        f"- Training: {result.step} steps of {recipe.train.batch_size} x {record['world_size']} clips, "
        f"{record['wall_seconds'] / 60:.1f} min, seed {recipe.train.seed}; weights are the EMA (decay {recipe.train.ema_decay}).\n"
        f"- Held-out flow loss (EMA): {val}.\n"
        f"- Default sampling: {recipe.export.sampler}, {recipe.export.steps} steps, guidance {recipe.export.guidance}.\n"
        f"- Guardrails: on by default in every pipeline (prompt pre-guard, face blur and content checks on "
        f"outputs, fail closed); outputs carry the worldfm watermark and, as mp4, a signed C2PA manifest.\n\n"
        f"Recipe and full record: `{RECORD_FILE}`.\n"
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

    ema = trainer.ema.module
    model = DiT(ema.config)
    model.load_state_dict(ema.state_dict())
    pipe = PredictPipeline(
        model.cpu(),
        tokenizer.cpu(),
        text_encoder,
        recipe.export.sampler_config(),
        recipe.export.fps,
        recipe.export.roll_frames,
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
    from worldfm.text.encoder import TextEncoder, TextEncoderConfig
    from worldfm.world.diffusion.dit import DiT

    out = Path(out)
    info = wdist.init_distributed(device)
    try:
        say = log if info.is_main else None
        tokenizer = recipe.tokenizer.load().to(info.device)
        text_encoder = TextEncoder(TextEncoderConfig(max_tokens=recipe.text.max_tokens), device=info.device)
        paths = ensure_datasets(recipe.data, log=say)
        train_clips, val_clips = build_clip_data(recipe.data, paths, seed=recipe.train.seed, keys=CLIP_KEYS)
        action_dim = int(train_clips[0]["actions"].shape[-1])
        config = recipe.dit_config(tokenizer.config, action_dim)
        train_data: Any = train_clips
        val_data: Any = val_clips
        if recipe.cache.latents:
            bs = recipe.train.val_batch_size or recipe.train.batch_size
            train_data = cached_clips(
                tokenizer, train_clips, recipe.data, out / CACHE_FILE, bs, info.device, say
            )
            if val_clips is not None:
                val_data = cached_clips(
                    tokenizer, val_clips, recipe.data, out / f"val_{CACHE_FILE}", bs, info.device, say
                )
        torch.manual_seed(recipe.train.seed)  # same initial weights on every rank
        model = DiT(config)
        torch.manual_seed(recipe.train.seed + info.rank)  # per-rank stream for noise, times and dropout
        fingerprint = {
            "model": to_plain(config.to_dict()),
            "tokenizer": to_plain(tokenizer.config.to_dict()),
            "text": to_plain(recipe.text),
            "data": to_plain(recipe.data),
            "conditioning": to_plain(recipe.conditioning),
            "diffusion": to_plain(recipe.diffusion),
        }
        task = PredictTask(tokenizer, text_encoder, recipe.conditioning, recipe.diffusion, action_dim)
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
                f"{config.name}: {model.num_parameters():,} parameters, {config.tokens()} tokens per clip, action_dim "
                f"{action_dim}; {len(train_data)} training clips, {len(val_data) if val_data is not None else 0} validation "
                f"clips of {recipe.data.clip_length} frames at {recipe.data.size}px"
            )
        result = trainer.fit(resume=resume)
        summary: dict[str, Any] = {
            "steps": result.step,
            "stop_reason": result.stop_reason,
            "wall_seconds": round(result.wall_seconds, 1),
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
