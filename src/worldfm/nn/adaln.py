"""Adaptive LayerNorm (AdaLN) modulation for diffusion transformers, with the AdaLN-LoRA variant.

A DiT block normalises its input without a learned affine and lets the conditioning embedding
(timestep, ...) choose a per-channel shift, scale and gate for each sub-layer:

    shift, scale, gate = AdaLN(emb)
    x = x + gate * sublayer(modulate(norm(x), shift, scale))

Plain AdaLN maps `silu(emb)` with one `emb_dim x chunks*width` linear per block. AdaLN-LoRA (Cosmos)
replaces it with a rank-r product `up(down(silu(emb)))` and adds a term shared by all blocks
(`AdaLNShared`, computed once per forward): about `(emb_dim + chunks*width) * r` parameters per block
instead of `emb_dim * chunks * width`. The last linear of both is zero-initialised, so every block
starts as the identity (gate 0) and the modulation starts neutral (shift 0, scale 0).

Per-frame modulation (Cosmos' action-conditioned Video2World): an embedding `(B, T, emb_dim)`, one
row per latent frame, gives every frame its own shift/scale/gate; `forward(..., tokens_per_frame=n)`
repeats each row over the frame's n tokens, so the outputs line up with `(B, T*n, width)` tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldfm.errors import ConfigError


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """`x * (1 + scale) + shift`; `x` `(B, N, D)`, shift/scale `(B, 1, D)` or `(B, N, D)`."""
    return torch.addcmul(shift, x, 1 + scale)


class AdaLN(nn.Module):
    """`emb (B, emb_dim)` -> `chunks` tensors `(B, 1, width)` (e.g. shift, scale, gate); per frame,
    `emb (B, T, emb_dim)` -> `chunks` tensors `(B, T * tokens_per_frame, width)`.

    lora_rank 0: one linear (plain AdaLN). lora_rank r > 0: `up(down(.))` of rank r (AdaLN-LoRA), to
    which `forward`'s `shared` term (`(B, chunks*width)`, or `(B, T, chunks*width)` per frame) is added.
    """

    def __init__(self, emb_dim: int, width: int, chunks: int = 3, lora_rank: int = 0) -> None:
        super().__init__()
        if chunks < 1 or width < 1 or emb_dim < 1:
            raise ConfigError(
                f"AdaLN needs positive sizes, got emb_dim={emb_dim}, width={width}, chunks={chunks}"
            )
        if lora_rank < 0:
            raise ConfigError(f"AdaLN lora_rank must be >= 0, got {lora_rank}")
        self.chunks, self.width, self.lora_rank = chunks, width, lora_rank
        if lora_rank:
            self.down = nn.Linear(emb_dim, lora_rank, bias=False)
            self.up = nn.Linear(lora_rank, chunks * width, bias=False)
            nn.init.zeros_(self.up.weight)
        else:
            self.proj = nn.Linear(emb_dim, chunks * width)
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def forward(
        self, emb: torch.Tensor, shared: torch.Tensor | None = None, tokens_per_frame: int = 1
    ) -> tuple[torch.Tensor, ...]:
        if emb.ndim not in (2, 3):
            raise ConfigError(f"AdaLN emb must be (B, D) or (B, T, D), got {tuple(emb.shape)}")
        h = F.silu(emb)
        out = self.up(self.down(h)) if self.lora_rank else self.proj(h)
        if shared is not None:
            out = out + shared
        if out.ndim == 2:
            return out.unsqueeze(1).chunk(self.chunks, dim=-1)
        # One row per latent frame, repeated over its tokens (tokens are frame-major).
        return out.repeat_interleave(tokens_per_frame, dim=1).chunk(self.chunks, dim=-1)


class AdaLNShared(nn.Module):
    """The term AdaLN-LoRA shares across blocks: `emb (B, [T,] emb_dim)` -> `(B, [T,] chunks*width)`,
    zero at init."""

    def __init__(self, emb_dim: int, width: int, chunks: int = 3) -> None:
        super().__init__()
        self.proj = nn.Linear(emb_dim, chunks * width)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.proj(F.silu(emb))
