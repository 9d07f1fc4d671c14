"""`TokenizerConfig`: the frozen, JSON-serialisable description of a causal video tokenizer."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from worldfm.errors import ConfigError

KINDS = ("continuous", "discrete")


def _pow2(n: int) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 1 and n & (n - 1) == 0


@dataclass(frozen=True)
class TokenizerConfig:
    """Everything needed to build a `VideoTokenizer`; mirrors its constructor.

    Shapes: a video `(B, 3, 1 + k*temporal_factor, H, W)` maps to latents
    `(B, latent_dim, 1 + k, H/spatial_factor, W/spatial_factor)`.

    - kind: "continuous" (CV, real-valued latents) or "discrete" (DV, FSQ codes and int indices).
    - temporal_factor, spatial_factor: compression in time and in each of H and W (powers of two).
    - latent_channels: CV latent channels (must be None for DV; DV uses one channel per FSQ level).
    - fsq_levels: DV quantiser levels, e.g. (8, 8, 8, 5, 5, 5) = 64,000 codes (empty for CV).
    - widths: channels per resolution level of the encoder (the decoder mirrors them); each step
      between levels halves H and W and/or time until the factors are reached after the patching.
    - depth: residual blocks per level.
    - decoder_depth: residual blocks per level of the decoder (None = `depth`). A deeper decoder than
      encoder keeps encoding cheap and the latents unchanged: a decoder-only training stage can grow
      it from an earlier model (the new blocks start as the identity).
    - patch_spatial, patch_temporal: the input Haar wavelet packet block (1 = no wavelet on that
      axis); the network then works at 1/patch resolution.
    - attention: add per-frame self-attention at the lowest resolution (GPU tiers).
    - norm: "rms" (RMS over the channels of each pixel: causal, and local, so tiled encoding and
      decoding match untiled) or "group" (GroupNorm per frame; its per-frame statistics make tiles
      differ from the whole frame).
    - norm_groups: GroupNorm groups (only used with norm="group").
    - temporal_kernel: causal temporal conv length in each residual block (1 = per-frame only).
    - latent_mean, latent_std: per-channel statistics of CV latents over training data, filled after
      training; world models train on `(latents - mean) / std`.
    """

    kind: str = "continuous"
    temporal_factor: int = 4
    spatial_factor: int = 8
    latent_channels: int | None = 16
    fsq_levels: tuple[int, ...] = ()
    widths: tuple[int, ...] = (64, 128)
    depth: int = 1
    decoder_depth: int | None = None
    patch_spatial: int = 4
    patch_temporal: int = 4
    attention: bool = False
    norm: str = "rms"
    norm_groups: int = 8
    temporal_kernel: int = 3
    in_channels: int = 3
    latent_mean: tuple[float, ...] | None = None
    latent_std: tuple[float, ...] | None = None
    name: str = field(default="custom", compare=False)

    # Fields added after runs were first saved, with the value that means "as before": run
    # fingerprints and encoding-cache keys leave them out at that value (`drop_later_defaults`).
    LATER_FIELDS: ClassVar[dict[str, Any]] = {"decoder_depth": None}

    def __post_init__(self) -> None:
        # Lists from JSON/YAML become tuples so the config stays hashable and frozen.
        for key in ("fsq_levels", "widths", "latent_mean", "latent_std"):
            value = getattr(self, key)
            if isinstance(value, list):
                object.__setattr__(self, key, tuple(value))
        self._validate()

    def _validate(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"tokenizer kind must be one of {KINDS}, got {self.kind!r}")
        for key in ("temporal_factor", "spatial_factor", "patch_spatial", "patch_temporal"):
            if not _pow2(getattr(self, key)):
                raise ConfigError(f"{key} must be a power of two >= 1, got {getattr(self, key)!r}")
        if self.patch_spatial > self.spatial_factor or self.patch_temporal > self.temporal_factor:
            raise ConfigError(
                f"patch ({self.patch_temporal}x{self.patch_spatial}x{self.patch_spatial}) must not exceed "
                f"the compression ({self.temporal_factor}x{self.spatial_factor}x{self.spatial_factor})"
            )
        if self.kind == "continuous":
            if not isinstance(self.latent_channels, int) or self.latent_channels < 1:
                raise ConfigError(
                    f"continuous tokenizer needs latent_channels >= 1, got {self.latent_channels!r}"
                )
            if self.fsq_levels:
                raise ConfigError(f"continuous tokenizer takes no fsq_levels, got {self.fsq_levels}")
        else:
            if self.latent_channels is not None:
                raise ConfigError(
                    "discrete tokenizer has one latent channel per FSQ level; leave latent_channels None, "
                    f"got {self.latent_channels}"
                )
            if not self.fsq_levels or any(not isinstance(v, int) or v < 2 for v in self.fsq_levels):
                raise ConfigError(
                    f"discrete tokenizer needs fsq_levels of ints >= 2, got {self.fsq_levels!r}"
                )
        if not self.widths or any(not isinstance(w, int) or w < 1 for w in self.widths):
            raise ConfigError(f"widths must be positive ints, got {self.widths!r}")
        steps = len(self.widths) - 1
        if steps != self.num_resample_steps:
            raise ConfigError(
                f"widths {self.widths} give {steps} resampling steps, but compression "
                f"{self.temporal_factor}x{self.spatial_factor}x{self.spatial_factor} after a "
                f"{self.patch_temporal}x{self.patch_spatial}x{self.patch_spatial} patch needs "
                f"{self.num_resample_steps} (one width per level)"
            )
        if self.norm not in ("rms", "group"):
            raise ConfigError(f"norm must be 'rms' or 'group', got {self.norm!r}")
        for w in self.widths:
            if self.norm == "group" and w % self.norm_groups:
                raise ConfigError(f"width {w} is not divisible by norm_groups {self.norm_groups}")
        for i, (fs, ft) in enumerate(self.resample_steps):
            f = ft * fs * fs
            if self.widths[i + 1] % f:
                raise ConfigError(f"width {self.widths[i + 1]} must be a multiple of {f} (step {i})")
        if not isinstance(self.depth, int) or self.depth < 1:
            raise ConfigError(f"depth must be >= 1, got {self.depth!r}")
        if self.decoder_depth is not None and (
            not isinstance(self.decoder_depth, int)
            or isinstance(self.decoder_depth, bool)
            or self.decoder_depth < 1
        ):
            raise ConfigError(f"decoder_depth must be None or >= 1, got {self.decoder_depth!r}")
        if not isinstance(self.temporal_kernel, int) or self.temporal_kernel < 1:
            raise ConfigError(f"temporal_kernel must be >= 1, got {self.temporal_kernel!r}")
        if self.in_channels < 1:
            raise ConfigError(f"in_channels must be >= 1, got {self.in_channels}")
        for key in ("latent_mean", "latent_std"):
            value = getattr(self, key)
            if value is None:
                continue
            if self.kind != "continuous":
                raise ConfigError(f"{key} only applies to continuous tokenizers")
            if len(value) != self.latent_dim or not all(math.isfinite(v) for v in value):
                raise ConfigError(f"{key} must hold {self.latent_dim} finite floats, got {value!r}")
        if self.latent_std is not None and any(v <= 0 for v in self.latent_std):
            raise ConfigError(f"latent_std must be positive, got {self.latent_std}")
        if (self.latent_mean is None) != (self.latent_std is None):
            raise ConfigError("set latent_mean and latent_std together")

    # ----- derived values -----
    @property
    def latent_dim(self) -> int:
        """Channels of the latents: latent_channels (CV) or len(fsq_levels) (DV)."""
        return len(self.fsq_levels) if self.kind == "discrete" else int(self.latent_channels or 0)

    @property
    def blocks_per_decoder_level(self) -> int:
        """Residual blocks per decoder level: decoder_depth, or depth when that is None."""
        return self.depth if self.decoder_depth is None else self.decoder_depth

    @property
    def codebook_size(self) -> int | None:
        """Number of distinct DV tokens (product of the FSQ levels), None for CV."""
        return math.prod(self.fsq_levels) if self.kind == "discrete" else None

    @property
    def num_resample_steps(self) -> int:
        ns = int(math.log2(self.spatial_factor // self.patch_spatial))
        nt = int(math.log2(self.temporal_factor // self.patch_temporal))
        return max(ns, nt)

    @property
    def resample_steps(self) -> list[tuple[int, int]]:
        """(spatial factor, temporal factor) of each encoder step, coarsening space and time early."""
        ns = int(math.log2(self.spatial_factor // self.patch_spatial))
        nt = int(math.log2(self.temporal_factor // self.patch_temporal))
        return [(2 if i < ns else 1, 2 if i < nt else 1) for i in range(max(ns, nt))]

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Latent (T, H, W) for a video of `frames` x `height` x `width` (checked)."""
        tf, sf = self.temporal_factor, self.spatial_factor
        if frames < 1 or (frames - 1) % tf or height % sf or width % sf or height < 1 or width < 1:
            raise ConfigError(
                f"video must have 1 + k*{tf} frames and height, width multiples of {sf}; "
                f"got {frames} frames of {height}x{width}"
            )
        return 1 + (frames - 1) // tf, height // sf, width // sf

    # ----- (de)serialisation -----
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerConfig:
        """Build from `to_dict` output; unknown keys raise ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError(f"tokenizer config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown tokenizer config keys {unknown}; expected some of {sorted(known)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"bad tokenizer config: {exc}") from exc

    def replace(self, **changes: Any) -> TokenizerConfig:
        """A copy with some fields changed (validated like a new config)."""
        return dataclasses.replace(self, **changes)
