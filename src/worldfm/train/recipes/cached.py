"""The parts the world-model recipes (Predict: diffusion over CV latents, AR: next token over DV
tokens) share: a frozen video tokenizer and text encoder, the sim clip mixture with captions and
actions, clips encoded once into a cache in the run folder, and a pipeline folder as the export.

Each recipe module keeps what is its own (network, task, conditioning, export settings, model card)
and hands the rest to `world_run` (a `run_training` prepare function) and the bases here.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from worldfm.errors import ConfigError, UnknownNameError, WorldfmError
from worldfm.train import distributed as wdist
from worldfm.train.recipes.common import (
    RecipeMethods,
    check_export_dtype,
    check_keys,
    drop_later_defaults,
    to_plain,
)
from worldfm.train.recipes.data import DataSpec, build_clip_data, ensure_datasets
from worldfm.train.recipes.run import (
    RECORD_FILE,
    Log,
    RunParts,
    recipe_fields,
    record_json,
    seeded_model,
    training_record,
    warm_start,
    write_text_atomic,
)
from worldfm.train.trainer import Trainer, TrainResult

CLIP_KEYS = ("video", "caption", "actions", "has_actions")
# A tokenizer recipe of each kind, named in the error that asks to train the tokenizer first.
EXAMPLE_TOKENIZER = {"continuous": "cv4x8x8-nano", "discrete": "dv4x8x8-nano"}
E = TypeVar("E", bound="EncodedClips")
W = TypeVar("W", bound="WorldRecipe")


# ----- recipe sections -----
@dataclass(frozen=True)
class TextSpec:
    """`text`: MiniLM token truncation; `cache_size`: captions whose encodings are kept (LRU). When
    every training caption fits, they are all encoded before the first step, so the measured pace of
    the first steps (see `train.fit_minutes`) is the pace of the whole run."""

    max_tokens: int = 64
    cache_size: int = 4096

    def __post_init__(self) -> None:
        if not 2 <= self.max_tokens <= 512:
            raise ConfigError(f"text.max_tokens must be in [2, 512], got {self.max_tokens!r}")
        if isinstance(self.cache_size, bool) or not isinstance(self.cache_size, int) or self.cache_size < 0:
            raise ConfigError(f"text.cache_size must be an integer >= 0, got {self.cache_size!r}")


def check_model_section(
    tier: str, overrides: Any, tiers: Iterable[str], what: str, config_cls: type, derived: Iterable[str]
) -> None:
    """Check a world model's `model` section: `tier` one of `tiers` (`what` names the family in the
    error), `overrides` a mapping of `config_cls` fields other than `name` and the `derived` ones
    (set from the tokenizer, or from the data for `action_dim`)."""
    tiers, derived = list(tiers), tuple(derived)
    if tier not in tiers:
        raise ConfigError(f"model.tier: {UnknownNameError(what, tier, tiers)}")
    if not isinstance(overrides, dict):
        raise ConfigError(f"model.overrides must be a mapping, got {overrides!r}")
    for key in derived:
        if key in overrides:
            raise ConfigError(
                f"model.overrides.{key} is set from the {'data' if key == 'action_dim' else 'tokenizer'}, not the recipe"
            )
    known = sorted({f.name for f in dataclasses.fields(config_cls)} - {"name", *derived})
    check_keys(overrides, known, "model.overrides")


def tier_config(
    get_config: Callable[..., Any], tier: str, overrides: Mapping[str, Any], **derived: Any
) -> Any:
    """`get_config(tier, **overrides, **derived)`, its ConfigError prefixed with `model: `."""
    try:
        return get_config(tier, **overrides, **derived)
    except ConfigError as exc:
        raise ConfigError(f"model: {exc}") from None


def check_pipeline_export(dtype: str, fps: float, sampling: Callable[[], Any]) -> None:
    """Check an `export` section: weight dtype, fps > 0, and `sampling()` (the stored default
    sampling settings) builds; its ConfigError is prefixed with `export.`."""
    check_export_dtype(dtype)
    if not fps > 0:
        raise ConfigError(f"export.fps must be > 0, got {fps!r}")
    try:
        sampling()
    except ConfigError as exc:
        raise ConfigError(f"export.{exc}") from None


def latent_frame_count(data: DataSpec, temporal_factor: int) -> int:
    """Latent frames of a `data.clip_length`-frame clip, `1 + (clip_length - 1) / temporal_factor`
    (ConfigError unless it divides)."""
    if (data.clip_length - 1) % temporal_factor:
        raise ConfigError(
            f"data.clip_length must be 1 + k*{temporal_factor} (the tokenizer's temporal factor), got {data.clip_length}"
        )
    return 1 + (data.clip_length - 1) // temporal_factor


def check_frame_size(data: DataSpec, config: Any, unit: str) -> None:
    """ConfigError unless the clips' frame size is the model's `sample_size` latent `unit` (e.g.
    "latent rows") times the tokenizer's spatial factor."""
    sf = config.spatial_factor
    if data.size != config.sample_size * sf:
        raise ConfigError(
            f"data.datasets size {data.size} px gives {data.size / sf:g} {unit}, but model.sample_size is "
            f"{config.sample_size} ({config.resolution} px); change one of them"
        )


class WorldRecipe(RecipeMethods):
    """Base of the world-model recipe dataclasses: sections `model`, `tokenizer` (with
    `config_if_readable` and `load`), `text`, `data`, `conditioning`, `cache`, `train`, `export`, ...

    A subclass implements `world_config(tokenizer_config, action_dim)`: the network's config, checked
    against the clips."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("model", "tokenizer", "data")

    def world_config(self, tokenizer_config: Any, action_dim: int) -> Any:
        raise NotImplementedError

    @classmethod
    def parse(cls: type[W], data: Mapping[str, Any], source: str | None = None) -> W:
        """The recipe of a YAML mapping, every key and value checked; the tokenizer folder is read at run time."""
        recipe = cls.from_mapping(data, source)
        # When the tokenizer's config can be read now (a tier name or an existing folder), check that model,
        # tokenizer and clips fit; otherwise the run checks it once the tokenizer is loaded.
        tok_config = recipe.tokenizer.config_if_readable()  # type: ignore[attr-defined]
        if tok_config is not None:
            recipe.world_config(tok_config, 0)
        return recipe


# ----- the frozen tokenizer -----
def read_tokenizer_config(path: str) -> Any:
    """The config of tokenizer `path` (a model folder's config.json, else a tier name; no weights
    read), or None when it is neither (yet)."""
    from worldfm.tokenizers.pretrained import read_config
    from worldfm.tokenizers.registry import TOKENIZER_TIERS, get_tokenizer_config

    folder = Path(path)
    if (folder / "config.json").is_file():
        try:
            return read_config(folder)[0]
        except WorldfmError as exc:
            raise ConfigError(f"tokenizer.path: {exc}") from None
    if path in TOKENIZER_TIERS:
        return get_tokenizer_config(path)
    return None


def check_tokenizer_kind(path: str, config: Any, kind: str, model: str) -> None:
    """ConfigError unless tokenizer `path` (config `config`) is of `kind` ("continuous" or "discrete"),
    the kind that `model` (e.g. "diffusion model") needs."""
    if config.kind != kind:
        need = "CV" if kind == "continuous" else "DV"
        raise ConfigError(
            f"tokenizer.path: {path} is a {config.kind} tokenizer; the {model} needs a {need} one"
        )


def load_frozen_tokenizer(path: str, kind: str, model: str) -> Any:
    """The tokenizer at `path` in eval mode without gradients; a missing one is a WorldfmError that
    says how to train it, one of another kind a ConfigError (`check_tokenizer_kind`)."""
    from worldfm.tokenizers import VideoTokenizer

    try:
        tok = VideoTokenizer.from_pretrained(path)
    except WorldfmError as exc:
        example = EXAMPLE_TOKENIZER[kind]
        raise WorldfmError(
            f"tokenizer.path: {exc}. Train the tokenizer first, e.g. `worldfm train tokenizer --config "
            f"configs/tokenizer/{example}.yaml --out runs/{example}`"
        ) from None
    check_tokenizer_kind(path, tok.config, kind, model)
    return tok.eval().requires_grad_(False)


# ----- the encoding cache -----
# How a cache file may store continuous encodings. int8 keeps one scale per channel (dim 1): absmax /
# 127, no clipping. On the shipped CV tokenizer's normalised latents that is a 0.011 RMS latent error
# and decodes within 61 dB PSNR of the float32 latents' decoding (bfloat16: 75 dB), far below the
# tokenizer's own error (about 29 dB): a quarter of the memory and disk for big mixtures, and a cache
# small enough to carry to a GPU lease.
CACHE_STORAGE = ("float32", "bfloat16", "int8")


def check_cache_storage(storage: str) -> None:
    if storage not in CACHE_STORAGE:
        raise ConfigError(f"cache.dtype must be one of {', '.join(CACHE_STORAGE)}, got {storage!r}")


def store_encodings(x: torch.Tensor, storage: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Float encodings `(N, C, ...)` -> (stored tensor, per-channel scale `(C,)` float32 for int8 else None)."""
    check_cache_storage(storage)
    if storage == "float32":
        return x.float(), None
    if storage == "bfloat16":
        return x.bfloat16(), None
    scale = (x.abs().amax(dim=[d for d in range(x.dim()) if d != 1]).float() / 127.0).clamp_min(1e-12)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return torch.round(x / scale.view(shape)).clamp_(-127, 127).to(torch.int8), scale


class EncodedClips(abc.ABC):
    """Clips with their frozen-tokenizer encodings precomputed: item i -> {KEY: encoding, "caption",
    "actions", "has_actions"}; `epoch_indices` is the underlying clips' visiting order (same shuffle
    and shards). A subclass sets KEY (the batch key and the cache file's tensor name) and
    `encode_batch`; `cached` builds one from a cache file (made on first use)."""

    KEY: ClassVar[str]

    @staticmethod
    @abc.abstractmethod
    def encode_batch(tokenizer: Any, video: torch.Tensor) -> torch.Tensor:
        """The stored encoding of a video batch `(b, 3, T, H, W)` in [-1, 1], on the CPU."""

    @classmethod
    def encode(
        cls,
        tokenizer: Any,
        clips: Any,
        batch_size: int,
        device: torch.device,
        log: Log | None = None,
    ) -> dict[str, Any]:
        """Every clip of `clips` (a map-style dataset of CLIP_KEYS items) -> {KEY: encodings, "actions",
        "has_actions", "captions"} (`encode_all`)."""
        return encode_all(
            clips, batch_size, device, lambda video: cls.encode_batch(tokenizer, video), cls.KEY, log
        )

    @classmethod
    def cached(
        cls: type[E],
        tokenizer: Any,
        clips: Any,
        data: DataSpec,
        path: Path,
        batch_size: int,
        device: torch.device,
        log: Log | None = None,
        storage: str = "float32",
    ) -> E:
        """Load `path` if it holds these clips' encodings by this tokenizer, stored as `storage`
        (`CACHE_STORAGE`), else encode them (rank 0) and save."""
        return cached_encodings(
            cls,
            tokenizer,
            clips,
            data,
            path,
            lambda: cls.encode(tokenizer, clips, batch_size, device, log),
            log,
            storage,
        )

    def __init__(
        self,
        clips: Any,
        encoded: torch.Tensor,
        actions: torch.Tensor,
        has_actions: torch.Tensor,
        captions: list[str],
        scale: torch.Tensor | None = None,
    ) -> None:
        """encoded: as stored (float32, bfloat16, int8 with its per-channel `scale`, or integer indices)."""
        self.clips, self.encoded, self.actions, self.has_actions, self.captions = (
            clips,
            encoded,
            actions,
            has_actions,
            captions,
        )
        self.scale = scale

    def __len__(self) -> int:
        return self.encoded.shape[0]

    def encoding(self, i: int) -> torch.Tensor:
        """Clip i's encoding as the task reads it: float32 for continuous encodings however stored."""
        x = self.encoded[i]
        if self.scale is not None:
            return x.float() * self.scale.view(-1, *([1] * (x.dim() - 1)))
        return x.float() if x.is_floating_point() else x

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = int(i)
        return {
            self.KEY: self.encoding(i),
            "caption": self.captions[i],
            "actions": self.actions[i],
            "has_actions": self.has_actions[i],
        }

    def epoch_indices(self, epoch: int) -> Any:
        return self.clips.epoch_indices(epoch)


def cache_key(tokenizer: Any, clips: Any, data: DataSpec) -> str:
    """16 hex digits naming what a cache holds: the tokenizer's config and weights, the data section
    and the number of clips; a cache file with another key is rebuilt."""
    tokenizer_config = drop_later_defaults(to_plain(tokenizer.config.to_dict()))
    text = json.dumps(
        {"tokenizer": tokenizer_config, "data": to_plain(data), "clips": len(clips)}, sort_keys=True
    )
    weights = hashlib.sha256()
    for v in tokenizer.state_dict().values():
        weights.update(v.detach().cpu().float().numpy().tobytes())
    return hashlib.sha256(text.encode() + weights.digest()).hexdigest()[:16]


def cache_matches(path: Path, key: str, storage: str | None = None) -> bool:
    """Whether `path` is a readable cache file whose metadata key is `key` (and, when given, whose
    storage is `storage`; files from before storage options hold float32)."""
    if not path.is_file():
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception:  # a truncated or foreign file is simply rebuilt
        return False
    return meta.get("key") == key and (storage is None or meta.get("storage", "float32") == storage)


@torch.no_grad()
def encode_all(
    clips: Any,
    batch_size: int,
    device: torch.device,
    encode: Callable[[torch.Tensor], torch.Tensor],
    key: str,
    log: Log | None = None,
) -> dict[str, Any]:
    """Every clip of `clips` (a map-style dataset of CLIP_KEYS items) in batches of `batch_size`:
    {key: `encode(video)` of each batch (video `(b, 3, T, H, W)` in [-1, 1] on `device`; the result on
    the CPU) concatenated, "actions" float, "has_actions" bool, "captions" list of str}."""
    encoded, actions, has, captions = [], [], [], []
    start = time.perf_counter()
    n = len(clips)
    for lo in range(0, n, batch_size):
        items = [clips[i] for i in range(lo, min(n, lo + batch_size))]
        video = torch.stack([it["video"] for it in items]).to(device)
        encoded.append(encode(video))
        actions.extend(torch.as_tensor(it["actions"]) for it in items)
        has.extend(bool(it["has_actions"]) for it in items)
        captions.extend(str(it["caption"]) for it in items)
        if log and (lo // batch_size) % 50 == 49:
            log(f"  encoded {lo + len(items)}/{n} clips ({time.perf_counter() - start:.0f} s)")
    return {
        key: torch.cat(encoded),
        "actions": torch.stack(actions).float(),
        "has_actions": torch.tensor(has, dtype=torch.bool),
        "captions": captions,
    }


def cached_encodings(
    cls: type[E],
    tokenizer: Any,
    clips: Any,
    data: DataSpec,
    path: Path,
    encode: Callable[[], dict[str, Any]],
    log: Log | None = None,
    storage: str = "float32",
) -> E:
    """`cls` over `clips` from cache file `path`: loaded if it holds these clips' encodings by this
    tokenizer (`cache_key`) stored as `storage` (float encodings only; integer ones are kept as they
    are), else first built on rank 0 from `encode()` (an `encode_all` result) and saved atomically;
    the other ranks wait for it."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    check_cache_storage(storage)
    key = cache_key(tokenizer, clips, data)
    if wdist.get_rank() == 0 and not cache_matches(path, key, storage):
        if cache_matches(path, key, "float32"):
            # The same encodings at full precision: convert instead of encoding again.
            if log:
                log(f"converting the float32 encodings in {path} to {storage}")
            with safe_open(str(path), framework="pt") as f:
                enc = {"captions": json.loads(f.metadata()["captions"]), **load_file(str(path))}
        else:
            if log:
                log(f"encoding {len(clips)} clips with the frozen tokenizer into {path} ({storage})")
            enc = encode()
        tensors = {k: enc[k].contiguous() for k in ("actions", "has_actions")}
        stored, scale = enc[cls.KEY], None
        if stored.is_floating_point():
            stored, scale = store_encodings(stored, storage)
        tensors[cls.KEY] = stored.contiguous()
        if scale is not None:
            tensors[f"{cls.KEY}_scale"] = scale
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        meta = {"key": key, "captions": json.dumps(enc["captions"]), "storage": storage}
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
    wdist.barrier()
    with safe_open(str(path), framework="pt") as f:
        captions = json.loads(f.metadata()["captions"])
    t = load_file(str(path))
    return cls(clips, t[cls.KEY], t["actions"], t["has_actions"], captions, t.get(f"{cls.KEY}_scale"))


# ----- the task -----
class FrozenEncoderTask:
    """Base of the world-model `TrainTask`s: a frozen tokenizer and text encoder; batches hold KEY
    (cached encodings) or "video" (encoded at each step)."""

    KEY: ClassVar[str]
    text_encoder: Any

    def caption_fields(self, captions: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        """{"text" (B, L, D), "text_mask" (B, L) bool} of a batch's captions; "" means no caption
        (its mask is all False)."""
        text, mask = self.text_encoder.encode(captions)
        has_text = torch.tensor([bool(c.strip()) for c in captions], device=device)
        return {"text": text.to(device), "text_mask": mask.to(device) & has_text[:, None]}

    def batch_size(self, batch: Any) -> int:
        return int((batch[self.KEY] if self.KEY in batch else batch["video"]).shape[0])


# ----- export and run -----
def export_world_pipeline(
    trainer: Trainer,
    recipe: Any,
    result: TrainResult,
    network: Callable[[Any], nn.Module],
    pipeline: Callable[..., Any],
    tokenizer: Any,
    text_encoder: Any,
    sampling: Any,
    model_card: Callable[[Any, Any, TrainResult, dict[str, Any]], str],
    out_dir: Path,
    log: Log | None = None,
    **pipeline_options: Any,
) -> Path:
    """Write `out_dir`: `pipeline(model, tokenizer, text_encoder, sampling, fps, roll_frames,
    **pipeline_options)` (all on the CPU; fps and roll_frames from `recipe.export`) saved in the
    recipe's export dtype, where model is a fresh `network(config)` holding the trainer's EMA weights;
    then training_record.json and README.md (`model_card(recipe, config, result, record)`)."""
    from worldfm.text.encoder import TextEncoderConfig

    # The exported pipeline keeps the default caption cache, not the one sized for training.
    text_encoder = copy.copy(text_encoder)
    text_encoder.config = dataclasses.replace(text_encoder.config, cache_size=TextEncoderConfig.cache_size)
    ema = trainer.ema.module
    model = network(ema.config)
    model.load_state_dict(ema.state_dict())
    e = recipe.export
    pipe = pipeline(
        model.cpu(), tokenizer.cpu(), text_encoder, sampling, e.fps, e.roll_frames, **pipeline_options
    )
    pipe.save_pretrained(out_dir, dtype=e.dtype)
    head = {"model": ema.config.name, "tokenizer": recipe.tokenizer.path, **recipe_fields(recipe)}
    record = training_record(trainer, result, model.num_parameters(), head)
    for name, text in (
        (RECORD_FILE, record_json(record)),
        ("README.md", model_card(recipe, ema.config, result, record)),
    ):
        write_text_atomic(out_dir / name, text)
    if log:
        log(f"exported the pipeline ({recipe.export.dtype}) to {out_dir}")
    return out_dir


def prewarm_captions(text_encoder: Any, captions: list[str], log: Log | None = None) -> int:
    """Encode every distinct caption once now (each alone, as a training step would) when they all fit
    the text encoder's cache; returns how many were encoded (0 when they do not fit). `embed` fills the
    same per-caption cache entries as `encode` without padding a batch tensor that nobody reads."""
    distinct = list(dict.fromkeys(c for c in captions if c.strip()))
    if not distinct or len(distinct) > text_encoder.config.cache_size:
        return 0
    start = time.perf_counter()
    text_encoder.embed(distinct)
    if log:
        log(
            f"encoded {len(distinct)} distinct captions in {time.perf_counter() - start:.1f} s (kept in the text cache)"
        )
    return len(distinct)


def recipe_clip_data(
    recipe: WorldRecipe,
    tokenizer: Any,
    cache: Callable[..., Any] | None,
    cache_path: Path,
    device: torch.device,
    log: Log | None = None,
) -> tuple[list[Path], Any, Any]:
    """A world recipe's data: its datasets (generated on first use), and its training and validation
    clips (None without `data.val_episodes`), encoded into `cache_path` and `val_<name>` beside it
    when `cache` is given (e.g. `CachedClips.cached`). Returns (dataset folders, train, val)."""
    r: Any = recipe
    paths = ensure_datasets(r.data, log=log)
    train, val = build_clip_data(r.data, paths, seed=r.train.seed, keys=CLIP_KEYS)
    if cache is not None:
        bs = r.train.val_batch_size or r.train.batch_size
        train = cache(tokenizer, train, r.data, cache_path, bs, device, log)
        if val is not None:
            val = cache(
                tokenizer, val, r.data, cache_path.with_name(f"val_{cache_path.name}"), bs, device, log
            )
    return paths, train, val


def world_run(
    recipe: WorldRecipe,
    *,
    cache: Callable[..., Any] | None,
    cache_file: str,
    network: Callable[[Any], nn.Module],
    task: Callable[[Any, Any, Any, int], Any],
    fingerprint: Mapping[str, Any],
    unit: str,
    export: Callable[..., Path],
) -> Callable[[wdist.DistInfo, Path, Log | None], RunParts]:
    """The `prepare` function of `run_training` for a world model over a frozen tokenizer and text encoder.

    On each rank it loads `recipe.tokenizer` and the text encoder, the data mixture (generated on first
    use) and its clips; `recipe.world_config(tokenizer_config, action_dim)` is the network's config;
    with `cache` (e.g. `CachedClips.cached`) the clips are encoded once into `out/cache_file`
    (validation: `out/val_<cache_file>`); the network is `network(config)`, the task
    `task(tokenizer, text_encoder, config, action_dim)`. The resume fingerprint holds the model,
    tokenizer, text, data and conditioning sections plus `fingerprint`; `unit` ("clip", "window") is
    what one sequence of the model covers in the start-up message; `export(trainer, result, tokenizer,
    text_encoder, export_dir, log)` writes the pipeline folder."""

    def prepare(info: wdist.DistInfo, out: Path, say: Log | None) -> RunParts:
        from worldfm.text.encoder import TextEncoder, TextEncoderConfig

        r: Any = recipe
        tokenizer = r.tokenizer.load().to(info.device)
        text_encoder = TextEncoder(
            TextEncoderConfig(max_tokens=r.text.max_tokens, cache_size=r.text.cache_size), device=info.device
        )
        _, train_data, val_data = recipe_clip_data(r, tokenizer, cache, out / cache_file, info.device, say)
        if cache is not None:
            prewarm_captions(text_encoder, train_data.captions, say)
        # From the cache when there is one: a cached run reads no video at all.
        action_dim = int(train_data[0]["actions"].shape[-1])
        config = r.world_config(tokenizer.config, action_dim)
        model = seeded_model(lambda: network(config), r.train.seed, info.rank)
        init_from = r.model.init_from
        if init_from is not None:
            from worldfm.world.load import load_world_pipeline

            source = load_world_pipeline(init_from).transformer.state_dict()
            # Layers the network may add over an earlier model (e.g. action modulation) start as no-ops.
            warm_start(model, source, init_from, new_prefixes=getattr(model, "WARM_START_NEW", ()))
            if say:
                say(f"initial transformer weights from {init_from}")
        prints = {
            "model": to_plain(config.to_dict()),
            "tokenizer": to_plain(tokenizer.config.to_dict()),
            # cache_size changes no result; absent from the fingerprint so earlier runs keep resuming
            "text": {"max_tokens": r.text.max_tokens},
            "data": to_plain(r.data),
            "conditioning": to_plain(r.conditioning),
            **fingerprint,
        }
        if init_from is not None:  # (absent otherwise: earlier runs keep resuming)
            prints["init_from"] = init_from
        banner = (
            f"{config.name}: {model.num_parameters():,} parameters, {config.tokens()} tokens per {unit}, action_dim "
            f"{action_dim}; {len(train_data)} training clips, {len(val_data) if val_data is not None else 0} "
            f"validation clips of {r.data.clip_length} frames at {r.data.size}px"
        )
        return RunParts(
            model,
            task(tokenizer, text_encoder, config, action_dim),
            train_data,
            val_data,
            prints,
            banner,
            lambda trainer, result, out_dir, say: export(
                trainer, result, tokenizer, text_encoder, out_dir, say
            ),
        )

    return prepare
