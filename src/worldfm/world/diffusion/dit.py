"""`DiT`: the diffusion transformer over CV tokenizer latents, `net(x, t, cond) -> velocity`.

    x (B, C, T, h, w) noisy normalised latents --[frame mask: conditioned frames replaced by clean
    latents, plus a mask channel]--> patchify (1 x p x p) --> linear --> + per-frame action embedding
    --> depth x [AdaLN(-LoRA)-modulated self-attention with 3D RoPE and QK-norm, cross-attention to
    the text tokens (after a learned null token), MLP] --> AdaLN final layer --> unpatchify
    --> velocity (B, C, T, h, w)

The timestep t in [0, 1] (flow time: 0 = data, 1 = noise) drives every AdaLN. AdaLN-LoRA (Cosmos)
uses a low-rank modulation per block plus one term shared by all blocks. All modulation outputs
and the final projection start at zero, so at initialisation every block is the identity and the
network predicts zero.

Actions: for T latent frames the window has F = 1 + (T - 1) * tf video frames and F - 1 actions
(one per transition). Latent frame j >= 1 covers video frames (j-1)*tf + 1 .. j*tf, reached by
actions (j-1)*tf .. j*tf - 1, so those tf actions are concatenated and projected into one embedding
added to every token of latent frame j; frame 0 (a single image) gets the projection of zeros.
Samples without actions use a learned "no action" embedding on every frame instead. With
`action_modulation`, a second projection of the same grouped actions is added to the timestep
embedding of each latent frame, so the AdaLN modulation becomes per frame (Cosmos' action-conditioned
DiT does this); it starts at zero, so a model without it warm-starts unchanged.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from worldfm.errors import ConfigError
from worldfm.nn.adaln import AdaLN, AdaLNShared, modulate
from worldfm.nn.rope import RoPE3D, apply_rope
from worldfm.world.diffusion.conditioning import Condition, apply_frame_mask
from worldfm.world.diffusion.config import DiTConfig


def timestep_embedding(t: torch.Tensor, dim: int, scale: float, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features `(B, dim)` of `t * scale` (t `(B,)` float)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (t.float() * scale)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    """t `(B,)` in [0, 1] -> embedding `(B, width)` (sinusoids, then a 2-layer MLP)."""

    def __init__(self, width: int, scale: float, freq_dim: int = 256) -> None:
        super().__init__()
        self.scale, self.freq_dim = scale, freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.freq_dim, self.scale).to(self.mlp[0].weight.dtype))


class Attention(nn.Module):
    """Multi-head attention with optional QK RMS-norm; self-attention gets RoPE, cross-attention a key mask."""

    def __init__(self, width: int, heads: int, qk_norm: bool, context_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.cross = context_dim is not None
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(context_dim or width, 2 * width)
        self.out = nn.Linear(width, width)
        hd = width // heads
        self.q_norm = nn.RMSNorm(hd, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(hd, eps=1e-6) if qk_norm else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, n, d = x.shape
        src = x if context is None else context
        q = self.q(x).view(b, n, self.heads, -1).transpose(1, 2)  # (B, heads, N, hd)
        k, v = self.kv(src).view(b, src.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        # QK-norm and RoPE in float32 (under bf16 autocast too), attention in the values' dtype.
        q, k = self.q_norm(q.float()), self.k_norm(k.float())
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        y = F.scaled_dot_product_attention(q.to(v.dtype), k.to(v.dtype), v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class DiTBlock(nn.Module):
    """Self-attention, cross-attention and MLP, each with AdaLN shift/scale/gate (9 chunks)."""

    def __init__(self, c: DiTConfig) -> None:
        super().__init__()
        w = c.width
        self.norm1 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(w, c.heads, c.qk_norm)
        self.norm2 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.cross = Attention(w, c.heads, c.qk_norm, context_dim=w)
        self.norm3 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        hidden = int(w * c.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(w, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, w))
        self.ada = AdaLN(w, w, chunks=9, lora_rank=c.adaln_lora_rank)

    def forward(
        self,
        x: torch.Tensor,
        emb: torch.Tensor,
        shared: torch.Tensor | None,
        rope: tuple[torch.Tensor, torch.Tensor],
        text: torch.Tensor,
        text_mask: torch.Tensor,
        tokens_per_frame: int = 1,
    ) -> torch.Tensor:
        """x `(B, N, w)`; emb `(B, w)`, or `(B, T, w)` per latent frame with N = T * tokens_per_frame."""
        s1, c1, g1, s2, c2, g2, s3, c3, g3 = self.ada(emb, shared, tokens_per_frame)
        x = x + g1 * self.attn(modulate(self.norm1(x), s1, c1), rope=rope)
        x = x + g2 * self.cross(modulate(self.norm2(x), s2, c2), context=text, mask=text_mask)
        return x + g3 * self.mlp(modulate(self.norm3(x), s3, c3))


class DiT(nn.Module):
    """Diffusion transformer over CV latents; see the module docstring. `forward(x, t, cond)`:

    x: `(B, C, T, h, w)` noisy normalised latents (h, w multiples of `patch_size`).
    t: `(B,)` or scalar flow time in [0, 1].
    cond: a `Condition` (None: unconditional, no frames given).
    Returns the predicted velocity `(B, C, T, h, w)` (`noise - data` for rectified flow), float32.
    """

    # Layers a warm start may find missing in an earlier model (they start as a no-op).
    WARM_START_NEW = ("action_mod.", "no_action_mod")

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        if not isinstance(config, DiTConfig):
            raise ConfigError(f"DiT needs a DiTConfig, got {type(config).__name__}")
        self.config = c = config
        p, w = c.patch_size, c.width
        self.patch_in = nn.Linear((c.latent_channels + 1) * p * p, w)  # + the frame-mask channel
        self.t_embed = TimestepEmbedder(w, c.timestep_scale)
        self.shared = AdaLNShared(w, w, chunks=9) if c.adaln_lora_rank else None
        self.text_proj = nn.Sequential(nn.Linear(c.text_dim, w), nn.GELU(approximate="tanh"), nn.Linear(w, w))
        self.null_text = nn.Parameter(torch.randn(1, 1, w) * 0.02)
        if c.action_dim:
            self.action_proj = nn.Sequential(
                nn.Linear(c.temporal_factor * c.action_dim, w), nn.SiLU(), nn.Linear(w, w)
            )
            self.no_action = nn.Parameter(torch.zeros(w))
        if self.per_frame_modulation:
            self.action_mod = nn.Sequential(
                nn.Linear(c.temporal_factor * c.action_dim, w), nn.SiLU(), nn.Linear(w, w)
            )
            self.no_action_mod = nn.Parameter(torch.zeros(w))
        self.rope = RoPE3D(c.head_dim, c.rope_theta)
        self.blocks = nn.ModuleList(DiTBlock(c) for _ in range(c.depth))
        self.norm_out = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.ada_out = AdaLN(w, w, chunks=2)
        self.patch_out = nn.Linear(w, c.latent_channels * p * p)
        self.gradient_checkpointing = False
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear) and not any(m is z for z in self._zero_init()):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for m in self._zero_init():
            nn.init.zeros_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def _zero_init(self) -> list[nn.Linear]:
        """Layers that start at zero: AdaLN outputs (identity blocks), the output projection (zero
        prediction) and the action projections' outputs (actions start as a no-op)."""
        out = [self.patch_out, self.ada_out.proj]
        if self.shared is not None:
            out.append(self.shared.proj)
        for blk in self.blocks:
            out.append(blk.ada.up if blk.ada.lora_rank else blk.ada.proj)
        if self.config.action_dim:
            out.append(self.action_proj[2])
        if self.per_frame_modulation:
            out.append(self.action_mod[2])
        return out

    @property
    def per_frame_modulation(self) -> bool:
        """Whether actions also modulate each latent frame's AdaLN (see the module docstring)."""
        return bool(self.config.action_dim and self.config.action_modulation)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ----- pieces -----
    def _text_tokens(self, cond: Condition, b: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(context (B, 1 + L, w), attention mask (B, 1, 1, 1 + L) bool); the null token is always visible."""
        null = self.null_text.to(dtype).expand(b, 1, -1)
        keep = torch.ones(b, 1, dtype=torch.bool, device=null.device)
        if cond.text is None:
            return null, keep[:, None, None, :]
        text = self.text_proj(cond.text.to(dtype))
        mask = torch.cat([keep, cond.text_mask.to(keep.device)], dim=1)  # type: ignore[union-attr]
        return torch.cat([null, text], dim=1), mask[:, None, None, :]

    def _action_embedding(
        self, cond: Condition, b: int, t: int, dtype: torch.dtype, proj: nn.Module, none: torch.Tensor
    ) -> torch.Tensor:
        """Per latent frame action embedding `(B, T, w)` through `proj`; `none` `(w,)` where there are
        no actions."""
        c = self.config
        if cond.actions is None:
            return none.to(dtype).expand(b, t, -1)
        grouped = cond.actions.to(dtype).reshape(b, t - 1, c.temporal_factor * c.action_dim)
        grouped = F.pad(grouped, (0, 0, 1, 0))  # frame 0 is reached by no action
        emb = proj(grouped)  # (B, T, w)
        has = cond.has_actions.to(emb.device)[:, None, None]  # type: ignore[union-attr]
        return torch.where(has, emb, none.to(dtype))

    def forward(
        self, x: torch.Tensor, t: torch.Tensor | float, cond: Condition | None = None
    ) -> torch.Tensor:
        c = self.config
        if x.ndim != 5 or x.shape[1] != c.latent_channels:
            raise ConfigError(f"x must be (B, {c.latent_channels}, T, h, w), got {tuple(x.shape)}")
        b, ch, nt, h, w = x.shape
        p = c.patch_size
        if h % p or w % p:
            raise ConfigError(f"latent size {h}x{w} is not a multiple of patch_size {p}")
        cond = cond if cond is not None else Condition()
        cond.check(x, c.temporal_factor, c.action_dim, c.text_dim)
        t = torch.as_tensor(t, dtype=torch.float32, device=x.device)
        t = t.expand(b) if t.ndim == 0 else t
        if t.shape != (b,):
            raise ConfigError(f"t must be a scalar or ({b},), got {tuple(t.shape)}")
        dtype = self.patch_in.weight.dtype

        # Frame conditioning: clean latents where given, plus the mask as an extra channel.
        x = apply_frame_mask(x, cond)
        fm = (
            cond.frame_mask
            if cond.frame_mask is not None
            else torch.zeros(b, nt, dtype=torch.bool, device=x.device)
        )
        mask = fm[:, None, :, None, None].to(x.dtype).expand(b, 1, nt, h, w)
        z = torch.cat([x, mask], dim=1).to(dtype)  # (B, C+1, T, h, w)
        hp, wp = h // p, w // p
        z = z.view(b, ch + 1, nt, hp, p, wp, p).permute(0, 2, 3, 5, 1, 4, 6).reshape(b, nt, hp * wp, -1)
        tokens = self.patch_in(z)  # (B, T, hp*wp, width)
        if c.action_dim:
            act = self._action_embedding(cond, b, nt, dtype, self.action_proj, self.no_action)
            tokens = tokens + act[:, :, None, :]
        tokens = tokens.reshape(b, nt * hp * wp, -1)

        emb = self.t_embed(t)  # (B, w)
        if self.per_frame_modulation:  # (B, T, w): each latent frame's own modulation
            emb = emb[:, None, :] + self._action_embedding(
                cond, b, nt, dtype, self.action_mod, self.no_action_mod
            )
        n = hp * wp  # tokens per latent frame
        shared = self.shared(emb) if self.shared is not None else None
        text, text_mask = self._text_tokens(cond, b, dtype)
        rope = self.rope(nt, hp, wp, x.device)
        for blk in self.blocks:
            if self.gradient_checkpointing and self.training:
                tokens = checkpoint(blk, tokens, emb, shared, rope, text, text_mask, n, use_reentrant=False)
            else:
                tokens = blk(tokens, emb, shared, rope, text, text_mask, n)

        shift, scale = self.ada_out(emb, tokens_per_frame=n)
        out = self.patch_out(modulate(self.norm_out(tokens), shift, scale))  # (B, N, C*p*p)
        out = out.view(b, nt, hp, wp, ch, p, p).permute(0, 4, 1, 2, 5, 3, 6).reshape(b, ch, nt, h, w)
        return out.float()

    # ----- save / load -----
    def save_pretrained(self, path: str | os.PathLike[str], dtype: str = "bfloat16") -> Path:
        """Write `config.json` + `model.safetensors` (weights in `dtype`) to folder `path`."""
        from worldfm.world.diffusion.pretrained import save_dit

        return save_dit(self, path, dtype=dtype)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str]) -> DiT:
        """Load a folder written by `save_pretrained` (float32, eval mode)."""
        from worldfm.world.diffusion.pretrained import load_dit

        return load_dit(path)
