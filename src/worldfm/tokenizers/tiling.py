"""Spatial tiling with linear overlap blending for tokenizer encode/decode at any resolution.

The encoder and decoder are convolutional, so a large frame can be processed as overlapping tiles
whose results are blended with linear ramps over the overlap (weights of neighbouring tiles sum to
one there). Tiles sit on the latent grid: a tile of `tile` pixels is `tile / sf` latents, and the
last tile along each axis is aligned to the far edge, so every tile has the same size and tiles
batch together. Encoding blends the continuous encoder output (before FSQ), so DV quantises the
blended latents; decoding blends pixels. Peak activation memory is bounded by `batch_size` tiles.

Temporal chunking (independent causal chunks of `1 + k*tf` frames) is done by
`worldfm.tokenizers.api.Tokenizer` on top of these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from worldfm.errors import ConfigError
from worldfm.tokenizers.model import VideoTokenizer

Progress = Callable[[int, int], None]  # (tiles done, tiles total)


@dataclass(frozen=True)
class TilingConfig:
    """How `Tokenizer` splits work.

    - tile: spatial tile side in pixels (a multiple of the spatial factor); frames no larger than a
      tile are processed whole.
    - overlap: pixels shared by neighbouring tiles (multiple of the spatial factor, < tile).
    - chunk_frames: frames per independent temporal chunk, `1 + k*tf` (None: `1 + 8*tf`).
    - batch_size: tiles (across chunks) per forward pass; bounds activation memory.
    """

    tile: int = 128
    overlap: int = 32
    chunk_frames: int | None = None
    batch_size: int = 8

    def check(self, temporal_factor: int, spatial_factor: int) -> None:
        sf, tf = spatial_factor, temporal_factor
        if self.tile < sf or self.tile % sf:
            raise ConfigError(f"tile must be a positive multiple of the spatial factor {sf}, got {self.tile}")
        if self.overlap < 0 or self.overlap % sf or self.overlap >= self.tile:
            raise ConfigError(
                f"overlap must be a multiple of {sf} in [0, tile={self.tile}), got {self.overlap}"
            )
        c = self.chunk_frames
        if c is not None and (c < 1 or (c - 1) % tf):
            raise ConfigError(f"chunk_frames must be 1 + k*{tf} (k >= 0), got {c}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")

    def frames_per_chunk(self, temporal_factor: int) -> int:
        return self.chunk_frames if self.chunk_frames is not None else 1 + 8 * temporal_factor


def tile_spans(size: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Start/stop of equal tiles covering [0, size), stride `tile - overlap`, last one flush with the end."""
    if size <= tile:
        return [(0, size)]
    starts = [*range(0, size - tile, tile - overlap), size - tile]
    return [(s, s + tile) for s in starts]


def blend_ramp(start: int, stop: int, size: int, overlap: int) -> torch.Tensor:
    """1D weights of a tile [start, stop) in [0, size): ramps up over `overlap` where a left neighbour
    exists and down where a right one exists, 1 elsewhere (always > 0)."""
    n = stop - start
    w = torch.ones(n)
    k = min(overlap, n)
    if k > 0:
        up = torch.arange(1, k + 1, dtype=torch.float32) / (k + 1)
        if start > 0:
            w[:k] = torch.minimum(w[:k], up)
        if stop < size:
            w[n - k :] = torch.minimum(w[n - k :], up.flip(0))
    return w


def _as_float_clip(video: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) or float (B, 3, T, H, W) -> float32 (B, 3, T, H, W) in [-1, 1]."""
    if video.dtype == torch.uint8:
        return video.permute(0, 4, 1, 2, 3).float().div_(127.5).sub_(1.0)
    return video.float()


def _spatial_shape(video: torch.Tensor) -> tuple[int, int, int, int]:
    """(B, T, H, W) of a uint8 channels-last or float channels-first video."""
    if video.dtype == torch.uint8:
        if video.ndim != 5 or video.shape[-1] != 3:
            raise ConfigError(f"uint8 video must be (B, T, H, W, 3), got {tuple(video.shape)}")
        b, t, h, w, _ = video.shape
    else:
        if video.ndim != 5:
            raise ConfigError(f"float video must be (B, C, T, H, W), got {tuple(video.shape)}")
        b, _, t, h, w = video.shape
    return b, t, h, w


def _crop(video: torch.Tensor, ys: tuple[int, int], xs: tuple[int, int]) -> torch.Tensor:
    if video.dtype == torch.uint8:
        return video[:, :, ys[0] : ys[1], xs[0] : xs[1]]
    return video[..., ys[0] : ys[1], xs[0] : xs[1]]


@torch.no_grad()
def encode_tiled(
    model: VideoTokenizer,
    video: torch.Tensor,
    tile: int = 128,
    overlap: int = 32,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Continuous encoder output of a video, computed tile by tile: same as `model.encode_continuous`
    up to tile-border effects.

    video: float `(B, 3, T, H, W)` in [-1, 1] or uint8 `(B, T, H, W, 3)` (converted tile by tile, so
    the whole clip is never held in float); T = 1 + k*tf, H, W multiples of sf.
    Returns float32 `(B, latent_dim, 1 + k, H/sf, W/sf)` (quantise with `model.quantize`).
    """
    cfg = model.config
    sf = cfg.spatial_factor
    TilingConfig(tile, overlap, None, batch_size).check(cfg.temporal_factor, sf)
    b, t, h, w = _spatial_shape(video)
    lt, lh, lw = cfg.latent_shape(t, h, w)
    ys, xs = tile_spans(lh, tile // sf, overlap // sf), tile_spans(lw, tile // sf, overlap // sf)
    out = torch.zeros(b, cfg.latent_dim, lt, lh, lw)
    weight = torch.zeros(lh, lw)
    items = [(i, y, x) for i in range(b) for y in ys for x in xs]
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        clips = [
            _as_float_clip(_crop(video[i : i + 1], (y0 * sf, y1 * sf), (x0 * sf, x1 * sf)))
            for i, (y0, y1), (x0, x1) in batch
        ]
        z = model.encode_continuous(torch.cat(clips).to(next(model.parameters()).device)).float().cpu()
        for zi, (i, (y0, y1), (x0, x1)) in zip(z, batch, strict=True):
            ramp = (
                blend_ramp(y0, y1, lh, overlap // sf)[:, None] * blend_ramp(x0, x1, lw, overlap // sf)[None]
            )
            out[i, :, :, y0:y1, x0:x1] += zi * ramp
            if i == 0:
                weight[y0:y1, x0:x1] += ramp
        if progress is not None:
            progress(min(start + batch_size, len(items)), len(items))
    return out / weight


@torch.no_grad()
def decode_tiled(
    model: VideoTokenizer,
    latents: torch.Tensor,
    tile: int = 128,
    overlap: int = 32,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Decode `(B, latent_dim, n, h, w)` latents (or DV indices `(B, n, h, w)`) tile by tile.

    Returns float32 `(B, 3, 1 + (n-1)*tf, h*sf, w*sf)`, not clamped; equals `model.decode` up to
    tile-border effects.
    """
    cfg = model.config
    sf = cfg.spatial_factor
    TilingConfig(tile, overlap, None, batch_size).check(cfg.temporal_factor, sf)
    if not latents.is_floating_point():
        latents = model.indices_to_latents(latents)
    if latents.ndim != 5 or latents.shape[1] != cfg.latent_dim:
        raise ConfigError(f"latents must be (B, {cfg.latent_dim}, n, h, w), got {tuple(latents.shape)}")
    b, _, n, lh, lw = latents.shape
    t, h, w = 1 + (n - 1) * cfg.temporal_factor, lh * sf, lw * sf
    ys, xs = tile_spans(lh, tile // sf, overlap // sf), tile_spans(lw, tile // sf, overlap // sf)
    out = torch.zeros(b, cfg.in_channels, t, h, w)
    weight = torch.zeros(h, w)
    items = [(i, y, x) for i in range(b) for y in ys for x in xs]
    device = next(model.parameters()).device
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        z = torch.stack([latents[i, :, :, y0:y1, x0:x1] for i, (y0, y1), (x0, x1) in batch])
        video = model.decode(z.to(device)).float().cpu()
        for vi, (i, (y0, y1), (x0, x1)) in zip(video, batch, strict=True):
            py, px = (y0 * sf, y1 * sf), (x0 * sf, x1 * sf)
            ramp = blend_ramp(*py, h, overlap)[:, None] * blend_ramp(*px, w, overlap)[None]
            out[i, :, :, py[0] : py[1], px[0] : px[1]] += vi * ramp
            if i == 0:
                weight[py[0] : py[1], px[0] : px[1]] += ramp
        if progress is not None:
            progress(min(start + batch_size, len(items)), len(items))
    return out / weight
