"""`TokenStepper`: the one-token-per-step decode of an `ARTransformer` with its KV cache, in few ops.

Sampling runs the network once per token on a batch of one slot per sample. At 64 px the matrices
are small (width 256), so the time of a step is the number of tensor ops (each costs microseconds of
dispatch) more than their arithmetic. The stepper computes exactly what `ARTransformer.forward_slots`
computes for one slot with a cache, with fewer ops:

- each RMSNorm gain is folded into the weights of the linear layer that reads the normalised
  activations (`W (g * x) = (W diag(g)) x`), so a norm is one `F.rms_norm` call without a gain;
- queries and keys are normalised (QK-norm) and rotated (RoPE) together, the rotation of each
  position as one `(head_dim, head_dim)` matrix product instead of split / multiply / concatenate;
- the token embedding is one `embedding_bag` (sum of the per-level FSQ digit embeddings);
- with no prompt, the cross-attention output is one constant per layer (see `CrossAttention`),
  kept in the cache.

The folded weights are built once per stepper (a generation window) from the model's current
weights. Results equal `forward_slots` up to float rounding (tests/world/autoregressive checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from worldfm.errors import ConfigError
from worldfm.world.autoregressive.cache import KVCache
from worldfm.world.autoregressive.transformer import ARContext, ARTransformer


def rope_matrices(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE angles `(N, D/2)` -> rotation matrices `(N, D, D)` acting on row vectors, so that
    `x @ R[i]` equals `apply_rope(x, cos[i], sin[i])` for the half-split layout `[x1, x2]`."""
    half = cos.shape[1]
    eye = torch.eye(half, dtype=cos.dtype, device=cos.device)
    c = cos[:, :, None] * eye  # (N, D/2, D/2) diagonal blocks
    s = sin[:, :, None] * eye
    top = torch.cat([c, s], dim=2)  # x1 -> [x1 c, x1 s]
    bottom = torch.cat([-s, c], dim=2)  # x2 -> [-x2 s, x2 c]
    return torch.cat([top, bottom], dim=1)


@dataclass
class _BlockWeights:
    """One block's decode weights, RMSNorm gains folded in (see the module docstring)."""

    qkv_w: torch.Tensor
    qkv_b: torch.Tensor
    qk_gain: torch.Tensor | None  # (2, 1, head_dim): the q and k norm gains, None without QK-norm
    out_w: torch.Tensor
    out_b: torch.Tensor
    cross_q_w: torch.Tensor
    cross_q_b: torch.Tensor
    cross_q_gain: torch.Tensor | None
    cross_out_w: torch.Tensor
    cross_out_b: torch.Tensor
    mlp1_w: torch.Tensor
    mlp1_b: torch.Tensor
    mlp2_w: torch.Tensor
    mlp2_b: torch.Tensor


def _qk_gain(norm: torch.nn.Module) -> torch.Tensor | None:
    return None if isinstance(norm, torch.nn.Identity) else norm.weight


class TokenStepper:
    """Runs slot `i` of a `grid` = (T, h, w) window for a batch, one slot per call, with `cache`.

    `step(prev, i)`: prev `(B,)` int64 tokens (the token before slot i, i >= 1) -> logits
    `(B, sum(levels))` float32, equal to `model.forward_slots(prev[:, None], i, grid, ctx, cache)[:, -1]`.
    The cache must hold slots `0 .. i - 1` (e.g. filled by a `forward_slots` prefill of the prefix)."""

    @torch.no_grad()
    def __init__(
        self, model: ARTransformer, grid: tuple[int, int, int], ctx: ARContext, cache: KVCache
    ) -> None:
        self.model, self.ctx, self.cache = model, ctx, cache
        self.eps = model.norm_out.eps  # every RMSNorm of the model uses the same epsilon
        c = model.config
        self.heads, self.head_dim, self.width = c.heads, c.head_dim, c.width
        t, h, w = grid
        cos, sin = model.rope(t, h, w, model.embed.weight.device)
        self.rot = rope_matrices(cos, sin)  # (N, hd, hd) float32
        self.per_frame = h * w
        self.blocks = [self._fold(blk) for blk in model.blocks]
        self.head_w = model.head.weight * model.norm_out.weight
        self.head_b = model.head.bias

    @staticmethod
    def _fold(blk: torch.nn.Module) -> _BlockWeights:
        attn, cross, mlp = blk.attn, blk.cross, blk.mlp
        return _BlockWeights(
            qkv_w=attn.qkv.weight * blk.norm1.weight,
            qkv_b=attn.qkv.bias,
            qk_gain=None
            if _qk_gain(attn.q_norm) is None
            else torch.stack([attn.q_norm.weight, attn.k_norm.weight])[:, None, :],
            out_w=attn.out.weight,
            out_b=attn.out.bias,
            cross_q_w=cross.q.weight * blk.norm2.weight,
            cross_q_b=cross.q.bias,
            cross_q_gain=_qk_gain(cross.q_norm),
            cross_out_w=cross.out.weight,
            cross_out_b=cross.out.bias,
            mlp1_w=mlp[0].weight * blk.norm3.weight,
            mlp1_b=mlp[0].bias,
            mlp2_w=mlp[2].weight,
            mlp2_b=mlp[2].bias,
        )

    @torch.no_grad()
    def step(self, prev: torch.Tensor, i: int) -> torch.Tensor:
        model, cache, ctx = self.model, self.cache, self.ctx
        b = prev.shape[0]
        if i < 1 or i >= self.rot.shape[0]:
            raise ConfigError(f"TokenStepper steps slots 1..{self.rot.shape[0] - 1}, got {i}")
        cache.check_append(i, 1, b)
        x = F.embedding_bag(model.digits(prev) + model._offsets, model.embed.weight, mode="sum")  # (B, width)
        if ctx.actions is not None:
            x = x + ctx.actions[:, i // self.per_frame]
        rot = self.rot[i]
        hd, heads = self.head_dim, self.heads
        for layer, wts in enumerate(self.blocks):
            qkv = F.linear(F.rms_norm(x, (self.width,), eps=self.eps), wts.qkv_w, wts.qkv_b)
            qkv = qkv.view(b, 3, heads, hd)
            qk = qkv[:, :2]
            if wts.qk_gain is not None:
                qk = F.rms_norm(qk, (hd,), eps=self.eps) * wts.qk_gain
            qk = (qk.float() @ rot).to(qkv.dtype)  # (B, 2, heads, hd); RoPE in float32 as in training
            keys, values = cache.update(layer, qk[:, 1, :, None], qkv[:, 2, :, None])
            y = F.scaled_dot_product_attention(qk[:, 0, :, None], keys, values)  # (B, heads, 1, hd)
            x = x + F.linear(y.view(b, self.width), wts.out_w, wts.out_b)
            x = x + self._cross(x, layer, wts)
            hidden = F.gelu(
                F.linear(F.rms_norm(x, (self.width,), eps=self.eps), wts.mlp1_w, wts.mlp1_b),
                approximate="tanh",
            )
            x = x + F.linear(hidden, wts.mlp2_w, wts.mlp2_b)
        cache.advance()
        return F.linear(F.rms_norm(x, (self.width,), eps=self.eps), self.head_w, self.head_b).float()

    def _cross(self, x: torch.Tensor, layer: int, wts: _BlockWeights) -> torch.Tensor:
        cache, model = self.cache, self.model
        constant = cache.cross_out[layer]
        if constant is not None:  # only the null text token: the same output for every slot
            return constant[:, 0]
        kv = cache.cross[layer]
        if kv is None:
            kv = cache.cross[layer] = model.blocks[layer].cross.keys_values(self.ctx.text)
        k, v = kv
        b = x.shape[0]
        q = F.linear(F.rms_norm(x, (self.width,), eps=self.eps), wts.cross_q_w, wts.cross_q_b)
        q = q.view(b, self.heads, 1, self.head_dim)
        if wts.cross_q_gain is not None:
            q = F.rms_norm(q, (self.head_dim,), eps=self.eps) * wts.cross_q_gain
        y = F.scaled_dot_product_attention(q.to(v.dtype), k, v, attn_mask=self.ctx.text_mask)
        return F.linear(y.view(b, self.width), wts.cross_out_w, wts.cross_out_b)
