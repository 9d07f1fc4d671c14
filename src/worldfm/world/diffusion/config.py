"""`DiTConfig`: the frozen, JSON-serialisable description of the diffusion transformer (no torch import)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from worldfm.errors import ConfigError


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class DiTConfig:
    """Everything needed to build a `DiT`; mirrors its constructor.

    The network maps noisy normalised CV latents `(B, latent_channels, T, h, w)` (any T, h, w with h,
    w multiples of `patch_size`) plus a flow time t in [0, 1] and a `Condition` to a velocity of the
    same shape.

    - latent_channels: CV tokenizer latent channels (16 for Cosmos-style CV tokenizers).
    - temporal_factor, spatial_factor: the tokenizer's compression; latent frame j >= 1 covers
      `temporal_factor` video frames, so the actions between them are grouped per latent frame.
    - patch_size: spatial patch (1 or 2); time is never patched (1 latent frame = 1 token row).
    - width, depth, heads, mlp_ratio: transformer size (head dim = width / heads, even, >= 6).
    - adaln_lora_rank: 0 for plain AdaLN, r > 0 for Cosmos' AdaLN-LoRA of rank r.
    - text_dim: width of the text encoder's token states (384 for MiniLM).
    - action_dim: per-step action width A the model takes (0: no action conditioning).
    - qk_norm: RMS-normalise queries and keys per head (stable attention logits, as in Cosmos).
    - rope_theta: 3D RoPE base.
    - sample_frames, sample_size: the latent window trained on (frames, and side h = w); pipelines
      generate windows of at most `sample_frames` latent frames at `sample_size` by default.
    - timestep_scale: t in [0, 1] is embedded as sinusoids of `t * timestep_scale`.
    """

    latent_channels: int = 16
    temporal_factor: int = 4
    spatial_factor: int = 8
    patch_size: int = 2
    width: int = 256
    depth: int = 8
    heads: int = 4
    mlp_ratio: float = 4.0
    adaln_lora_rank: int = 64
    text_dim: int = 384
    action_dim: int = 0
    qk_norm: bool = True
    rope_theta: float = 10000.0
    sample_frames: int = 5
    sample_size: int = 8
    timestep_scale: float = 1000.0
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        positive = (
            "latent_channels",
            "temporal_factor",
            "spatial_factor",
            "width",
            "depth",
            "heads",
            "text_dim",
        )
        for key in (*positive, "sample_frames", "sample_size"):
            if not _int(getattr(self, key)) or getattr(self, key) < 1:
                raise ConfigError(f"{key} must be an integer >= 1, got {getattr(self, key)!r}")
        for key in ("action_dim", "adaln_lora_rank"):
            if not _int(getattr(self, key)) or getattr(self, key) < 0:
                raise ConfigError(f"{key} must be an integer >= 0, got {getattr(self, key)!r}")
        if self.patch_size not in (1, 2) or isinstance(self.patch_size, bool):
            raise ConfigError(f"patch_size must be 1 or 2, got {self.patch_size!r}")
        if self.width % self.heads:
            raise ConfigError(f"width {self.width} does not split into {self.heads} heads")
        head = self.width // self.heads
        if head % 2 or head < 6:
            raise ConfigError(f"head dimension width/heads = {head} must be even and >= 6 (3D RoPE)")
        if self.sample_size % self.patch_size:
            raise ConfigError(
                f"sample_size {self.sample_size} is not a multiple of patch_size {self.patch_size}"
            )
        for key in ("mlp_ratio", "rope_theta", "timestep_scale"):
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
    def window_frames(self) -> int:
        """Video frames of one training window: `1 + (sample_frames - 1) * temporal_factor`."""
        return 1 + (self.sample_frames - 1) * self.temporal_factor

    @property
    def resolution(self) -> int:
        """Video side in pixels of the training window."""
        return self.sample_size * self.spatial_factor

    def tokens(self, frames: int | None = None, size: int | None = None) -> int:
        """Tokens of a latent window (default: the training window)."""
        side = (size or self.sample_size) // self.patch_size
        return (frames or self.sample_frames) * side * side

    # ----- (de)serialisation -----
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiTConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown DiT config keys {unknown}; expected some of {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> DiTConfig:
        return dataclasses.replace(self, **changes)
