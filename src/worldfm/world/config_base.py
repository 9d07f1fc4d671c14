"""What the world-model transformer configs (`DiTConfig`, `ARConfig`) share: the field checks their
`__post_init__` runs, the sizes derived from the training window, and (de)serialisation. No torch import."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from worldfm.errors import ConfigError

C = TypeVar("C", bound="TransformerConfig")


def is_int(v: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


class TransformerConfig:
    """Mixin of the frozen config dataclasses of the world-model transformers. They have the fields
    width, heads, mlp_ratio, rope_theta, qk_norm, temporal_factor, spatial_factor, sample_frames and
    sample_size; `KIND` names the family in errors ("DiT", "AR")."""

    KIND: ClassVar[str]

    # ----- checks (each raises ConfigError naming the field and the bad value) -----
    def _check_ints(self, keys: Iterable[str], low: int) -> None:
        """Each of `keys` is an integer >= `low`."""
        for key in keys:
            if not is_int(getattr(self, key)) or getattr(self, key) < low:
                raise ConfigError(f"{key} must be an integer >= {low}, got {getattr(self, key)!r}")

    def _check_heads(self) -> None:
        """`width` splits into `heads` heads of an even dimension >= 6 (3D RoPE needs 3 even parts)."""
        if self.width % self.heads:
            raise ConfigError(f"width {self.width} does not split into {self.heads} heads")
        head = self.width // self.heads
        if head % 2 or head < 6:
            raise ConfigError(f"head dimension width/heads = {head} must be even and >= 6 (3D RoPE)")

    def _check_numbers(self, keys: Iterable[str]) -> None:
        """Each of `keys` is a finite number > 0; then rope_theta > 1 and qk_norm a bool."""
        for key in keys:
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

    # ----- (de)serialisation -----
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown {cls.KIND} config keys {unknown}; expected some of {sorted(known)}")
        return cls(**data)

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    # Fields the subclasses define (declared for readers and type checkers).
    width: int
    heads: int
    mlp_ratio: float
    rope_theta: float
    qk_norm: bool
    temporal_factor: int
    spatial_factor: int
    sample_frames: int
    sample_size: int
