"""`ARConfig`: the frozen, JSON-serialisable description of the autoregressive transformer (no torch import)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from worldfm.errors import ConfigError


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class ARConfig:
    """Everything needed to build an `ARTransformer`; mirrors its constructor.

    The network reads DV token indices `(B, T, h, w)` int64 in [0, prod(fsq_levels)) (T latent frames
    of h x w tokens, flattened t-major then raster order) and predicts each token from the ones
    before it, as one small softmax per FSQ level.

    - fsq_levels: the DV tokenizer's FSQ levels (8, 8, 8, 5, 5, 5 for Cosmos-style 64K codebooks).
    - temporal_factor, spatial_factor: the tokenizer's compression; latent frame j >= 1 covers
      `temporal_factor` video frames, so the actions reaching them are grouped per latent frame.
    - width, depth, heads, mlp_ratio: transformer size (head dim = width / heads, even, >= 6).
    - text_dim: width of the text encoder's token states (384 for MiniLM).
    - action_dim: per-step action width A the model takes (0: no action conditioning).
    - qk_norm: RMS-normalise queries and keys per head.
    - rope_theta: 3D RoPE base.
    - sample_frames, sample_size: the latent window trained on (frames, and side h = w); pipelines
      generate windows of at most `sample_frames` latent frames.
    """

    fsq_levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)
    temporal_factor: int = 4
    spatial_factor: int = 8
    width: int = 256
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 4.0
    text_dim: int = 384
    action_dim: int = 0
    qk_norm: bool = True
    rope_theta: float = 10000.0
    sample_frames: int = 5
    sample_size: int = 8
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.fsq_levels, list):
            object.__setattr__(self, "fsq_levels", tuple(self.fsq_levels))
        if (
            not isinstance(self.fsq_levels, tuple)
            or not self.fsq_levels
            or not all(_int(v) and v >= 2 for v in self.fsq_levels)
        ):
            raise ConfigError(
                f"fsq_levels must be a non-empty list of integers >= 2, got {self.fsq_levels!r}"
            )
        positive = ("temporal_factor", "spatial_factor", "width", "depth", "heads", "text_dim")
        for key in (*positive, "sample_frames", "sample_size"):
            if not _int(getattr(self, key)) or getattr(self, key) < 1:
                raise ConfigError(f"{key} must be an integer >= 1, got {getattr(self, key)!r}")
        if not _int(self.action_dim) or self.action_dim < 0:
            raise ConfigError(f"action_dim must be an integer >= 0, got {self.action_dim!r}")
        if self.width % self.heads:
            raise ConfigError(f"width {self.width} does not split into {self.heads} heads")
        head = self.width // self.heads
        if head % 2 or head < 6:
            raise ConfigError(f"head dimension width/heads = {head} must be even and >= 6 (3D RoPE)")
        for key in ("mlp_ratio", "rope_theta"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"{key} must be a number > 0, got {v!r}")
        if self.rope_theta <= 1:
            raise ConfigError(f"rope_theta must be > 1, got {self.rope_theta!r}")
        if not isinstance(self.qk_norm, bool):
            raise ConfigError(f"qk_norm must be true or false, got {self.qk_norm!r}")

    # ----- derived sizes -----
    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def codebook_size(self) -> int:
        return math.prod(self.fsq_levels)

    @property
    def tokens_per_frame(self) -> int:
        """Tokens of one latent frame of the training window (`sample_size ** 2`)."""
        return self.sample_size * self.sample_size

    @property
    def window_frames(self) -> int:
        """Video frames of one training window: `1 + (sample_frames - 1) * temporal_factor`."""
        return 1 + (self.sample_frames - 1) * self.temporal_factor

    @property
    def resolution(self) -> int:
        """Video side in pixels of the training window."""
        return self.sample_size * self.spatial_factor

    def tokens(self, frames: int | None = None, size: int | None = None) -> int:
        """Tokens of a latent window (default: the training window)."""
        side = size or self.sample_size
        return (frames or self.sample_frames) * side * side

    # ----- (de)serialisation -----
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["fsq_levels"] = list(self.fsq_levels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ARConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown AR config keys {unknown}; expected some of {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> ARConfig:
        return dataclasses.replace(self, **changes)
