"""`ARConfig`: the frozen, JSON-serialisable description of the autoregressive transformer (no torch import)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from worldfm.errors import ConfigError
from worldfm.world.config_base import TransformerConfig
from worldfm.world.config_base import is_int as _int


@dataclass(frozen=True)
class ARConfig(TransformerConfig):
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

    KIND: ClassVar[str] = "AR"

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
        self._check_ints((*positive, "sample_frames", "sample_size"), 1)
        self._check_ints(("action_dim",), 0)
        self._check_heads()
        self._check_numbers(("mlp_ratio", "rope_theta"))

    # ----- derived sizes (head_dim, window_frames, resolution: TransformerConfig) -----
    @property
    def codebook_size(self) -> int:
        return math.prod(self.fsq_levels)

    @property
    def tokens_per_frame(self) -> int:
        """Tokens of one latent frame of the training window (`sample_size ** 2`)."""
        return self.sample_size * self.sample_size

    def tokens(self, frames: int | None = None, size: int | None = None) -> int:
        """Tokens of a latent window (default: the training window)."""
        side = size or self.sample_size
        return (frames or self.sample_frames) * side * side

    # ----- (de)serialisation (from_dict, replace: TransformerConfig) -----
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["fsq_levels"] = list(self.fsq_levels)
        return out
