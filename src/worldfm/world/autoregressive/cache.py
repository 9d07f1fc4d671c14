"""`KVCache`: keys and values of past tokens per layer, so sampling feeds one new token per step.

Self-attention keys/values are stored in preallocated buffers `(B, heads, capacity, head_dim)` per
layer; `length` slots are filled. A forward over slots `start .. start + n - 1` writes its keys and
values at those slots (`start` must equal `length`: tokens are appended in order) and attends over
slots `0 .. start + n - 1`. The cross-attention keys/values of the text context do not change
during a generation, so each layer's are computed once and kept in `cross` (and, when the null text
token alone is visible, the cross-attention output itself, one constant per layer, in `cross_out`).

Logits computed with the cache equal those of one forward over the whole sequence (up to float
rounding; `tests/world/autoregressive/test_transformer.py` checks it).
"""

from __future__ import annotations

import torch

from worldfm.errors import ConfigError


class KVCache:
    """Per-layer key/value buffers for `batch` sequences of at most `capacity` slots."""

    def __init__(
        self,
        depth: int,
        batch: int,
        heads: int,
        head_dim: int,
        capacity: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if min(depth, batch, heads, head_dim, capacity) < 1:
            raise ConfigError(
                f"KVCache sizes must be >= 1, got depth {depth}, batch {batch}, heads {heads}, "
                f"head_dim {head_dim}, capacity {capacity}"
            )
        shape = (batch, heads, capacity, head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(depth)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(depth)]
        self.cross: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * depth
        # Cross-attention output when only the null text token is visible: the same for every slot.
        self.cross_out: list[torch.Tensor | None] = [None] * depth
        self.capacity, self.batch, self.length = capacity, batch, 0
        self._pending = 0

    def check_append(self, start: int, n: int, batch: int) -> None:
        """Raise unless slots `start .. start + n - 1` of `batch` sequences can be appended now."""
        if batch != self.batch:
            raise ConfigError(f"KVCache holds {self.batch} sequences, got a batch of {batch}")
        if start != self.length:
            raise ConfigError(
                f"KVCache holds {self.length} slots; the next forward must start there, got {start}"
            )
        if start + n > self.capacity:
            raise ConfigError(f"KVCache capacity {self.capacity} slots exceeded ({start} + {n})")

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write `k`, `v` `(B, heads, n, head_dim)` at slots `length ..` of `layer`; return all keys and
        values `(B, heads, length + n, head_dim)` (views of the buffers)."""
        n = k.shape[2]
        end = self.length + n
        self.k[layer][:, :, self.length : end] = k
        self.v[layer][:, :, self.length : end] = v
        self._pending = n
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]

    def advance(self) -> None:
        """Mark the slots written by the last forward (all layers) as filled."""
        self.length += self._pending
        self._pending = 0

    def reset(self) -> None:
        """Forget every slot and the cross-attention context (buffers are reused)."""
        self.length, self._pending = 0, 0
        self.cross = [None] * len(self.cross)
        self.cross_out = [None] * len(self.cross_out)
