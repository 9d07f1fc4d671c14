"""`VideoTokenizer`: the causal video autoencoder (CV) or FSQ tokenizer (DV) as one torch module."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from worldfm.errors import ConfigError
from worldfm.tokenizers import continuous
from worldfm.tokenizers.autoencoder import Decoder, Encoder
from worldfm.tokenizers.config import TokenizerConfig
from worldfm.tokenizers.discrete import DiscreteBottleneck


@dataclass
class TokenizerOutput:
    """What `VideoTokenizer.forward` returns.

    - reconstruction: `(B, 3, T, H, W)` float, nominally [-1, 1] (not clamped, for the loss).
    - latents: `(B, C, 1 + k, H/s, W/s)`; FSQ codes in [-1, 1] for DV (straight-through gradients).
    - indices: `(B, 1 + k, H/s, W/s)` int64 token ids for DV, None for CV.
    - aux_loss: scalar tensor, 0.0 (neither bottleneck has an auxiliary loss; kept for the trainer).
    """

    reconstruction: torch.Tensor
    latents: torch.Tensor
    indices: torch.Tensor | None
    aux_loss: torch.Tensor


class VideoTokenizer(nn.Module):
    """Causal video tokenizer. Videos are `(B, 3, 1 + k*tf, H, W)` float in [-1, 1], H, W multiples of sf.

    An image is a one-frame video (k = 0). Latents have `1 + k` frames of `H/sf x W/sf`; latent frame
    j depends on video frames <= j*tf only (and decoding is causal the same way). For inputs of any
    size and length, with bounded memory, use `worldfm.tokenizers.Tokenizer`.
    """

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        if not isinstance(config, TokenizerConfig):
            raise ConfigError(f"VideoTokenizer needs a TokenizerConfig, got {type(config).__name__}")
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantizer = DiscreteBottleneck(config) if config.kind == "discrete" else None

    # ----- properties -----
    @property
    def is_discrete(self) -> bool:
        return self.quantizer is not None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def check_video(self, video: torch.Tensor) -> None:
        """Raise ConfigError unless `video` is float `(B, in_channels, 1 + k*tf, H, W)` with H, W multiples of sf."""
        c = self.config
        if not isinstance(video, torch.Tensor) or video.ndim != 5 or not video.is_floating_point():
            raise ConfigError(
                f"video must be a float tensor (B, {c.in_channels}, T, H, W), got "
                f"{tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__}"
            )
        if video.shape[1] != c.in_channels:
            raise ConfigError(
                f"video must have {c.in_channels} channels on dim 1, got shape {tuple(video.shape)}"
            )
        c.latent_shape(*video.shape[2:])

    # ----- encode / decode -----
    def encode_continuous(self, video: torch.Tensor) -> torch.Tensor:
        """Encoder output before quantisation, `(B, latent_dim, 1 + k, H/sf, W/sf)` float (= latents for CV)."""
        self.check_video(video)
        return self.encoder(video)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Continuous encoder output -> (latents, indices): FSQ codes and int64 ids for DV, `(z, None)` for CV."""
        if self.quantizer is None:
            return z, None
        return self.quantizer(z)

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """Video -> latents `(B, C, 1 + k, h, w)` (CV) or int64 indices `(B, 1 + k, h, w)` (DV)."""
        latents, indices = self.quantize(self.encode_continuous(video))
        return latents if indices is None else indices

    def indices_to_latents(self, indices: torch.Tensor) -> torch.Tensor:
        """DV token ids `(B, T, h, w)` -> FSQ codes `(B, d, T, h, w)`."""
        if self.quantizer is None:
            raise ConfigError("indices only exist for discrete tokenizers; this one is continuous")
        if indices.ndim != 4:
            raise ConfigError(f"indices must be (B, T, h, w), got shape {tuple(indices.shape)}")
        return self.quantizer.indices_to_codes(indices)

    def decode(self, latents_or_indices: torch.Tensor) -> torch.Tensor:
        """Latents `(B, C, n, h, w)` float, or DV indices `(B, n, h, w)` int -> video `(B, 3, 1 + (n-1)*tf, h*sf, w*sf)`.

        The output is not clamped; clamp to [-1, 1] before turning it into pixels.
        """
        x = latents_or_indices
        if not x.is_floating_point():
            x = self.indices_to_latents(x)
        if x.ndim != 5 or x.shape[1] != self.config.latent_dim:
            raise ConfigError(
                f"latents must be (B, {self.config.latent_dim}, T, h, w), got shape {tuple(x.shape)}"
            )
        return self.decoder(x)

    def forward(self, video: torch.Tensor) -> TokenizerOutput:
        """Encode, quantise (DV) and decode; see `TokenizerOutput`."""
        z = self.encode_continuous(video)
        latents, indices = self.quantize(z)
        reconstruction = self.decoder(latents)
        return TokenizerOutput(reconstruction, latents, indices, z.new_zeros(()))

    # ----- latent statistics (CV) -----
    def normalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """`(latents - latent_mean) / latent_std` per channel (CV; the stats live in the config)."""
        return continuous.normalize_latents(self.config, latents)

    def denormalize_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return continuous.denormalize_latents(self.config, latents)

    # ----- save / load -----
    def save_pretrained(
        self, path: str | os.PathLike[str], dtype: str = "bfloat16", model_card: str | None = None
    ) -> Path:
        """Write `config.json` + `model.safetensors` (weights in `dtype`: bfloat16, float16 or float32) to a folder."""
        from worldfm.tokenizers.pretrained import save_tokenizer

        return save_tokenizer(self, path, dtype=dtype, model_card=model_card)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str]) -> VideoTokenizer:
        """Load a saved model folder, or a shipped tier by name (e.g. "cv4x8x8-nano"); float32, eval mode."""
        from worldfm.tokenizers.pretrained import load_tokenizer

        return load_tokenizer(name_or_path)
