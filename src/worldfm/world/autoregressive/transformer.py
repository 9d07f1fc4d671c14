"""`ARTransformer`: a decoder-only transformer over DV token indices, next-token prediction.

A window of T latent frames of h x w tokens is one sequence of N = T*h*w slots in time order, raster
order (row by row) inside each frame. Slot i predicts token x_i from the tokens before it:

    input of slot i = BOS (i = 0) or embed(x_{i-1})      embed = sum of one embedding per FSQ level
                    + action embedding of the frame of x_i
    --> depth x [RMSNorm, causal self-attention with 3D RoPE at the (t, y, x) of x_i and QK-norm,
                 RMSNorm, cross-attention to the text tokens (after a learned null token),
                 RMSNorm, MLP]
    --> RMSNorm --> factorised head: one softmax per FSQ level (8+8+8+5+5+5 = 39 logits for 64K codes)

The head predicts the FSQ digits of x_i independently given the context, so a 64,000-code
vocabulary costs 39 logits; an index is `sum_l digit_l * prod_{m<l} L_m` (worldfm.tokenizers.fsq).

Actions: as in the diffusion model, for T latent frames the window has F = 1 + (T - 1) * tf video
frames and F - 1 actions; latent frame j >= 1 is reached by actions (j-1)*tf .. j*tf - 1, which are
concatenated and projected to one embedding added to every slot predicting a token of frame j;
frame 0 gets the projection of zeros. Samples without actions use a learned "no action" embedding.

Text: MiniLM token states `(B, L, 384)` are projected to the width and attended to by every block;
a learned null token is always visible, so a sample without text (dropped for classifier-free
guidance, or no prompt) attends to it alone.

`forward(indices, cond)` is the teacher-forced pass used in training (logits for every slot);
`forward_slots(prev, start, grid, ctx, cache)` runs a range of slots, with a `KVCache` for sampling.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from worldfm.errors import ConfigError
from worldfm.nn.rope import RoPE3D, apply_rope
from worldfm.world.autoregressive.cache import KVCache
from worldfm.world.autoregressive.config import ARConfig
from worldfm.world.diffusion.conditioning import Condition

CLASS_NAME = "ARTransformer"
FORMAT_VERSION = 1


@dataclass
class ARContext:
    """What every slot of a generation attends to or adds, computed once from a `Condition`.

    text `(B, 1 + L, width)` projected text tokens (null token first), text_mask `(B, 1, 1, 1 + L)` bool,
    actions `(B, T, width)` per latent frame embedding or None (model without actions)."""

    text: torch.Tensor
    text_mask: torch.Tensor
    actions: torch.Tensor | None

    def repeat(self, k: int) -> ARContext:
        """Each sample repeated k times in place (for K futures of one condition)."""
        a = None if self.actions is None else self.actions.repeat_interleave(k, 0)
        return ARContext(self.text.repeat_interleave(k, 0), self.text_mask.repeat_interleave(k, 0), a)

    @staticmethod
    def cat(a: ARContext, b: ARContext) -> ARContext:
        """Batch concatenation (text padded to the longer one; padded keys are masked out)."""
        la, lb = a.text.shape[1], b.text.shape[1]
        n = max(la, lb)
        text = torch.cat([F.pad(a.text, (0, 0, 0, n - la)), F.pad(b.text, (0, 0, 0, n - lb))])
        mask = torch.cat([F.pad(a.text_mask, (0, n - la)), F.pad(b.text_mask, (0, n - lb))])
        acts = None if a.actions is None else torch.cat([a.actions, b.actions])  # type: ignore[list-item]
        return ARContext(text, mask, acts)


class SelfAttention(nn.Module):
    """Causal multi-head self-attention with QK RMS-norm and 3D RoPE; optional KV cache."""

    def __init__(self, width: int, heads: int, qk_norm: bool) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        hd = width // heads
        self.q_norm = nn.RMSNorm(hd, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(hd, eps=1e-6) if qk_norm else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        cache: KVCache | None,
        layer: int,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)  # (B, heads, n, hd)
        # QK-norm and RoPE in float32 (under bf16 autocast too), attention in the values' dtype.
        q, k = apply_rope(self.q_norm(q.float()), *rope), apply_rope(self.k_norm(k.float()), *rope)
        q, k = q.to(v.dtype), k.to(v.dtype)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        if mask is None and cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=n > 1)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class CrossAttention(nn.Module):
    """Attention from the token slots to the (projected) text tokens; keys/values cacheable."""

    def __init__(self, width: int, heads: int, qk_norm: bool) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)
        hd = width // heads
        self.q_norm = nn.RMSNorm(hd, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(hd, eps=1e-6) if qk_norm else nn.Identity()

    def keys_values(self, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, m, _ = text.shape
        k, v = self.kv(text).view(b, m, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        return self.k_norm(k.float()).to(v.dtype), v

    def forward(
        self,
        x: torch.Tensor,
        text: torch.Tensor,
        mask: torch.Tensor,
        cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        b, n, d = x.shape
        if cache is None:
            k, v = self.keys_values(text)
        else:
            if cache.cross[layer] is None:
                cache.cross[layer] = self.keys_values(text)
            k, v = cache.cross[layer]  # type: ignore[misc]
        if k.shape[2] == 1:
            # Only the null token (no prompt): a softmax over one key is 1, so every slot gets that
            # key's value whatever its query: the output is one constant per layer (kept in the cache).
            if cache is None:
                return self.out(v.transpose(1, 2).reshape(b, 1, d)).expand(b, n, d)
            if cache.cross_out[layer] is None:
                cache.cross_out[layer] = self.out(v.transpose(1, 2).reshape(b, 1, d))
            return cache.cross_out[layer].expand(b, n, d)  # type: ignore[union-attr]
        q = self.q_norm(self.q(x).view(b, n, self.heads, -1).transpose(1, 2).float())
        y = F.scaled_dot_product_attention(q.to(v.dtype), k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class ARBlock(nn.Module):
    def __init__(self, c: ARConfig) -> None:
        super().__init__()
        w = c.width
        self.norm1 = nn.RMSNorm(w, eps=1e-6)
        self.attn = SelfAttention(w, c.heads, c.qk_norm)
        self.norm2 = nn.RMSNorm(w, eps=1e-6)
        self.cross = CrossAttention(w, c.heads, c.qk_norm)
        self.norm3 = nn.RMSNorm(w, eps=1e-6)
        hidden = int(w * c.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(w, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, w))

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        text: torch.Tensor,
        text_mask: torch.Tensor,
        cache: KVCache | None,
        layer: int,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), rope, cache, layer, mask)
        x = x + self.cross(self.norm2(x), text, text_mask, cache, layer)
        return x + self.mlp(self.norm3(x))


class ARTransformer(nn.Module):
    """Next-token transformer over DV indices; see the module docstring.

    `forward(indices, cond)`: indices `(B, T, h, w)` int64 in [0, codebook_size), cond a `Condition`
    with text and/or actions (None: unconditional). Returns logits `(B, T*h*w, sum(fsq_levels))`
    float32; slot i scores token i given tokens < i (split per level with `split_levels`).
    """

    def __init__(self, config: ARConfig) -> None:
        super().__init__()
        if not isinstance(config, ARConfig):
            raise ConfigError(f"ARTransformer needs an ARConfig, got {type(config).__name__}")
        self.config = c = config
        w = c.width
        levels = torch.tensor(c.fsq_levels)
        self.register_buffer("_levels", levels, persistent=False)
        self.register_buffer(
            "_basis",
            torch.tensor([math.prod(c.fsq_levels[:i]) for i in range(len(c.fsq_levels))]),
            persistent=False,
        )
        self.register_buffer("_offsets", torch.cumsum(levels, 0) - levels, persistent=False)
        # Gather index (levels, max level) of each level's logits in the head's output, and which
        # entries are real (the rest are padding for levels smaller than the largest).
        span = torch.arange(int(levels.max()))
        self.register_buffer(
            "_level_gather",
            (self._offsets[:, None] + span).clamp_max(int(levels.sum()) - 1),
            persistent=False,
        )
        self.register_buffer("_level_valid", span < levels[:, None], persistent=False)
        self.embed = nn.Embedding(int(levels.sum()), w)  # one table per level, stacked
        self.bos = nn.Parameter(torch.zeros(w))
        self.text_proj = nn.Sequential(nn.Linear(c.text_dim, w), nn.GELU(approximate="tanh"), nn.Linear(w, w))
        self.null_text = nn.Parameter(torch.zeros(1, 1, w))
        if c.action_dim:
            self.action_proj = nn.Sequential(
                nn.Linear(c.temporal_factor * c.action_dim, w), nn.SiLU(), nn.Linear(w, w)
            )
            self.no_action = nn.Parameter(torch.zeros(w))
        self.rope = RoPE3D(c.head_dim, c.rope_theta)
        self.blocks = nn.ModuleList(ARBlock(c) for _ in range(c.depth))
        self.norm_out = nn.RMSNorm(w, eps=1e-6)
        self.head = nn.Linear(w, int(levels.sum()))
        self.gradient_checkpointing = False
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2 style: N(0, 0.02), residual output projections scaled by 1/sqrt(2 * depth), zero biases;
        the action projection's output starts at zero (actions start as a no-op)."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
        for blk in self.blocks:
            for m in (blk.attn.out, blk.cross.out, blk.mlp[2]):
                nn.init.normal_(m.weight, std=0.02 / math.sqrt(2 * self.config.depth))
        nn.init.normal_(self.bos, std=0.02)
        nn.init.normal_(self.null_text, std=0.02)
        if self.config.action_dim:
            nn.init.zeros_(self.action_proj[2].weight)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ----- tokens <-> FSQ digits -----
    def digits(self, indices: torch.Tensor) -> torch.Tensor:
        """int indices `(...)` -> FSQ digits `(..., levels)` int64 (digit l in [0, L_l))."""
        return (indices.long()[..., None] // self._basis) % self._levels

    def indices(self, digits: torch.Tensor) -> torch.Tensor:
        """FSQ digits `(..., levels)` -> int64 indices `(...)`."""
        return (digits.long() * self._basis).sum(-1)

    @property
    def level_sizes(self) -> torch.Tensor:
        """The FSQ levels `(levels,)` int64 (values per digit), on the model's device."""
        return self._levels

    def level_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits `(..., sum(levels))` -> `(..., levels, max(levels))`: row l holds level l's logits,
        padded with -inf after its L_l values."""
        return logits[..., self._level_gather].masked_fill(~self._level_valid, float("-inf"))

    def split_levels(self, logits: torch.Tensor) -> list[torch.Tensor]:
        """Logits `(..., sum(levels))` -> one `(..., L_l)` tensor per FSQ level."""
        return list(logits.split(list(self.config.fsq_levels), dim=-1))

    def check_indices(self, indices: torch.Tensor) -> None:
        c = self.config
        if not isinstance(indices, torch.Tensor) or indices.ndim != 4 or indices.is_floating_point():
            raise ConfigError(
                f"indices must be an integer tensor (B, T, h, w), got "
                f"{tuple(indices.shape) if isinstance(indices, torch.Tensor) else type(indices).__name__}"
            )
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= c.codebook_size):
            raise ConfigError(
                f"token indices must lie in [0, {c.codebook_size}) for FSQ levels {list(c.fsq_levels)}, "
                f"got [{int(indices.min())}, {int(indices.max())}]"
            )

    # ----- conditioning -----
    def context(self, cond: Condition | None, batch: int, frames: int) -> ARContext:
        """Project a `Condition` (text `(B, L, text_dim)`, actions `(B, F - 1, A)` for `frames` latent
        frames) once into what the slots use; None or empty fields mean no text / no actions."""
        c = self.config
        cond = cond if cond is not None else Condition()
        if cond.batch_size not in (None, batch):
            raise ConfigError(f"Condition has batch size {cond.batch_size}, the tokens have {batch}")
        if cond.latents is not None:
            raise ConfigError("the autoregressive model takes conditioning frames as tokens, not latents")
        dtype = self.embed.weight.dtype
        device = self.embed.weight.device
        null = self.null_text.to(dtype).expand(batch, 1, -1)
        keep = torch.ones(batch, 1, dtype=torch.bool, device=device)
        if cond.text is None:
            text, mask = null, keep
        else:
            if cond.text.shape[-1] != c.text_dim:
                raise ConfigError(
                    f"text states have width {cond.text.shape[-1]}, the model takes {c.text_dim}"
                )
            text = torch.cat([null, self.text_proj(cond.text.to(device, dtype))], dim=1)
            mask = torch.cat([keep, cond.text_mask.to(device)], dim=1)  # type: ignore[union-attr]
        actions = None
        if c.action_dim:
            if cond.actions is None:
                actions = self.no_action.to(dtype).expand(batch, frames, -1)
            else:
                steps = (frames - 1) * c.temporal_factor
                if cond.actions.shape[1:] != (steps, c.action_dim):
                    raise ConfigError(
                        f"actions must be (B, {steps}, {c.action_dim}) for {frames} latent frames "
                        f"({1 + steps} video frames), got {tuple(cond.actions.shape)}"
                    )
                grouped = cond.actions.to(device, dtype).reshape(batch, frames - 1, -1)
                emb = self.action_proj(F.pad(grouped, (0, 0, 1, 0)))  # frame 0 is reached by no action
                has = cond.has_actions.to(device)[:, None, None]  # type: ignore[union-attr]
                actions = torch.where(has, emb, self.no_action.to(dtype))
        elif cond.actions is not None:
            raise ConfigError("this model has no action conditioning (action_dim 0) but actions were given")
        return ARContext(text, mask[:, None, None, :], actions)

    # ----- slots -----
    def embed_prev(self, prev: torch.Tensor) -> torch.Tensor:
        """Previous tokens `(B, n)` int64 (-1 = BOS) -> slot inputs `(B, n, width)`."""
        bos = prev < 0
        emb = self.embed(self.digits(prev.clamp_min(0)) + self._offsets).sum(-2)  # (B, n, w)
        return torch.where(bos[..., None], self.bos.to(emb.dtype), emb)

    def forward_slots(
        self,
        prev: torch.Tensor,
        start: int,
        grid: tuple[int, int, int],
        ctx: ARContext,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Run slots `start .. start + n - 1` of a `grid` = (T, h, w) window: `prev` `(B, n)` int64 holds
        the token before each slot (-1 for BOS at slot 0). Without a cache `start` must be 0 (the
        slots attend causally to each other); with one, to every cached slot and causally among
        themselves. Returns logits `(B, n, sum(levels))` float32."""
        t, h, w = grid
        b, n = prev.shape
        if start < 0 or start + n > t * h * w:
            raise ConfigError(f"slots {start}..{start + n - 1} lie outside a {t}x{h}x{w} window")
        if cache is None and start != 0:
            raise ConfigError("forward_slots without a KV cache must start at slot 0")
        if cache is not None:
            cache.check_append(start, n, b)
        x = self.embed_prev(prev)
        frame = torch.arange(start, start + n, device=x.device) // (h * w)
        if ctx.actions is not None:
            x = x + ctx.actions[:, frame]
        cos, sin = self.rope(t, h, w, x.device)
        rope = (cos[start : start + n], sin[start : start + n])
        mask = None
        if cache is not None and n > 1:
            pos = torch.arange(start + n, device=x.device)
            mask = pos[None, :] <= pos[start:, None]  # (n, start + n): causal over new and cached slots
        for i, blk in enumerate(self.blocks):
            if self.gradient_checkpointing and self.training and cache is None:
                x = checkpoint(blk, x, rope, ctx.text, ctx.text_mask, None, i, None, use_reentrant=False)
            else:
                x = blk(x, rope, ctx.text, ctx.text_mask, cache, i, mask)
        if cache is not None:
            cache.advance()
        return self.head(self.norm_out(x)).float()

    def forward(self, indices: torch.Tensor, cond: Condition | None = None) -> torch.Tensor:
        self.check_indices(indices)
        b, t, h, w = indices.shape
        flat = indices.reshape(b, t * h * w)
        prev = torch.cat([torch.full_like(flat[:, :1], -1), flat[:, :-1]], dim=1)
        return self.forward_slots(prev, 0, (t, h, w), self.context(cond, b, t))

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        c = self.config
        w = self.embed.weight
        return KVCache(c.depth, batch, c.heads, c.head_dim, capacity, w.device, w.dtype)

    def loss(
        self, logits: torch.Tensor, indices: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`ar_loss` with this model's FSQ levels."""
        return ar_loss(logits, indices, self.config.fsq_levels, weight)

    # ----- save / load -----
    def save_pretrained(self, path: str | os.PathLike[str], dtype: str = "bfloat16") -> Path:
        """Write `config.json` + `model.safetensors` (weights in `dtype`) to folder `path`."""
        from worldfm.tokenizers.pretrained import save_model_folder

        return save_model_folder(self, path, CLASS_NAME, FORMAT_VERSION, dtype)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str]) -> ARTransformer:
        """Load a folder written by `save_pretrained` (float32, eval mode)."""
        return load_ar_transformer(path)


def ar_loss(
    logits: torch.Tensor,
    indices: torch.Tensor,
    fsq_levels: tuple[int, ...],
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy per FSQ level, summed over levels, averaged over slots -> per sample `(B,)` (nats).

    logits `(B, N, sum(levels))` from `ARTransformer.forward`, indices `(B, T, h, w)` with T*h*w = N;
    `weight` `(B, N)` (default 1) weighs the slots."""
    b = indices.shape[0]
    basis = torch.tensor([math.prod(fsq_levels[:i]) for i in range(len(fsq_levels))], device=indices.device)
    levels = torch.tensor(fsq_levels, device=indices.device)
    targets = (indices.reshape(b, -1, 1).long() // basis) % levels  # (B, N, levels)
    total = logits.new_zeros(b, targets.shape[1], dtype=torch.float32)
    for lvl, part in enumerate(logits.split(list(fsq_levels), dim=-1)):
        total = total + F.cross_entropy(part.float().transpose(1, 2), targets[..., lvl], reduction="none")
    if weight is None:
        return total.mean(1)
    return (total * weight).sum(1) / weight.sum(1).clamp_min(1)


def read_ar_config(folder: str | os.PathLike[str]) -> ARConfig:
    from worldfm.tokenizers.pretrained import read_model_config

    data, _ = read_model_config(Path(folder), CLASS_NAME, FORMAT_VERSION, "an ARTransformer")
    try:
        return ARConfig.from_dict(data)
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{Path(folder) / 'config.json'}: {exc}") from exc


def load_ar_transformer(path: str | os.PathLike[str]) -> ARTransformer:
    from worldfm.tokenizers.pretrained import load_model_weights

    folder = Path(path)
    return load_model_weights(ARTransformer(read_ar_config(folder)), folder).eval()
