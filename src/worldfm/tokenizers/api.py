"""`Tokenizer`: encode and decode uint8 videos of any size and length with a `VideoTokenizer`.

    tok = Tokenizer.from_pretrained("cv4x8x8-nano")      # or a saved model folder
    enc = tok.encode(frames, fps=25)                      # frames: (T, H, W, 3) uint8
    enc.save("clip.safetensors")
    frames2 = tok.decode(EncodedVideo.load("clip.safetensors"))   # (T, H, W, 3) uint8, same shape

Frames are padded on the bottom/right by edge replication to multiples of the spatial factor,
cut into independent causal chunks of `chunk_frames` frames (the last chunk padded by repeating its
last frame), and each chunk is processed in overlapping spatial tiles (`worldfm.tokenizers.tiling`);
decoding undoes all of it, so the output has the input's exact size and length. Memory is bounded
by the chunk and tile sizes, not by the video's length.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import torch

from worldfm.errors import ConfigError, WorldfmError
from worldfm.tokenizers.config import TokenizerConfig
from worldfm.tokenizers.container import EncodedVideo, chunk_layout
from worldfm.tokenizers.model import VideoTokenizer
from worldfm.tokenizers.pretrained import load_tokenizer, resolve_model_path
from worldfm.tokenizers.registry import TOKENIZER_TIERS
from worldfm.tokenizers.tiling import TilingConfig, decode_tiled, encode_tiled, tile_spans

Progress = Callable[[int, int], None]  # (work units done, total)


def _check_frames(frames: np.ndarray) -> np.ndarray:
    if (
        not isinstance(frames, np.ndarray)
        or frames.ndim != 4
        or frames.shape[-1] != 3
        or frames.dtype != np.uint8
    ):
        shape = getattr(frames, "shape", None)
        raise ConfigError(
            f"frames must be a (T, H, W, 3) uint8 numpy array, got {shape} {getattr(frames, 'dtype', type(frames).__name__)}"
        )
    if min(frames.shape[:3]) < 1:
        raise ConfigError(f"frames must hold at least one 1x1 frame, got shape {frames.shape}")
    return frames


class Tokenizer:
    """A `VideoTokenizer` plus tiling and chunking, with uint8 `(T, H, W, 3)` frames at its edges."""

    def __init__(
        self, model: VideoTokenizer, name: str = "custom", tiling: TilingConfig | None = None
    ) -> None:
        self.model = model.eval()
        self.name = name
        self.tiling = tiling or TilingConfig()
        self.tiling.check(model.config.temporal_factor, model.config.spatial_factor)

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike[str], tiling: TilingConfig | None = None
    ) -> Tokenizer:
        """Load a shipped tier by name or a model folder; folders are recorded by absolute path."""
        text = os.fspath(name_or_path)
        model = load_tokenizer(text)
        name = (
            text
            if text in TOKENIZER_TIERS and not os.path.isdir(text)
            else str(resolve_model_path(text).resolve())
        )
        return cls(model, name, tiling)

    @property
    def config(self) -> TokenizerConfig:
        return self.model.config

    @property
    def chunk_frames(self) -> int:
        return self.tiling.frames_per_chunk(self.config.temporal_factor)

    def _padded_size(self, height: int, width: int) -> tuple[int, int]:
        sf = self.config.spatial_factor
        return math.ceil(height / sf) * sf, math.ceil(width / sf) * sf

    def _groups(self, chunks: list[tuple[int, int, int]], tiles: int) -> list[list[int]]:
        """Consecutive chunks with the same latent length, at most `batch_size` tiles per group (>= 1 chunk)."""
        per_group = max(1, self.tiling.batch_size // max(1, tiles))
        groups: list[list[int]] = []
        for i, (_, _, n) in enumerate(chunks):
            if groups and chunks[groups[-1][0]][2] == n and len(groups[-1]) < per_group:
                groups[-1].append(i)
            else:
                groups.append([i])
        return groups

    def _num_tiles(self, height: int, width: int) -> int:
        sf, tiling = self.config.spatial_factor, self.tiling
        lt, lo = tiling.tile // sf, tiling.overlap // sf
        return len(tile_spans(height // sf, lt, lo)) * len(tile_spans(width // sf, lt, lo))

    def encode(self, frames: np.ndarray, fps: float = 0.0, progress: Progress | None = None) -> EncodedVideo:
        """uint8 `(T, H, W, 3)` frames of any size and length -> `EncodedVideo` (fps 0.0 = unknown)."""
        frames = _check_frames(frames)
        cfg, tiling = self.config, self.tiling
        t, h, w, _ = frames.shape
        ph, pw = self._padded_size(h, w)
        chunks = chunk_layout(t, self.chunk_frames, cfg.temporal_factor)
        pieces: list[torch.Tensor] = []
        done = 0
        # Chunks of equal length go through the model together (short videos are many small forwards
        # otherwise); a group never holds more than `batch_size` tiles, so memory stays bounded.
        for group in self._groups(chunks, self._num_tiles(ph, pw)):
            clips = []
            for i in group:
                start, r, n = chunks[i]
                length = 1 + (n - 1) * cfg.temporal_factor
                # Pad time by repeating the last frame, space by edge replication (cropped on decode).
                pad = ((0, length - r), (0, ph - h), (0, pw - w), (0, 0))
                clips.append(np.pad(frames[start : start + r], pad, mode="edge"))
            batch = torch.from_numpy(np.stack(clips))  # (G, L, PH, PW, 3) uint8
            z = encode_tiled(self.model, batch, tiling.tile, tiling.overlap, tiling.batch_size)
            latents, indices = self.model.quantize(z)
            pieces.extend(latents.unbind(0) if indices is None else indices.unbind(0))
            done += len(group)
            if progress is not None:
                progress(done, len(chunks))
        joined = torch.cat(pieces, dim=1 if cfg.kind == "continuous" else 0)
        return EncodedVideo(
            model=self.name,
            config=cfg,
            latents=joined if cfg.kind == "continuous" else None,
            indices=joined if cfg.kind == "discrete" else None,
            num_frames=t,
            height=h,
            width=w,
            fps=float(fps),
            padded_height=ph,
            padded_width=pw,
            chunk_frames=self.chunk_frames,
        )

    def _check_compatible(self, encoded: EncodedVideo) -> None:
        mine, theirs = self.config, encoded.config
        keys = ("kind", "temporal_factor", "spatial_factor", "latent_dim", "fsq_levels", "in_channels")
        diff = [k for k in keys if getattr(mine, k) != getattr(theirs, k)]
        if diff:
            raise WorldfmError(
                f"latents were made by {encoded.model!r}, which differs from this tokenizer ({self.name!r}) "
                f"in {', '.join(diff)}"
            )

    def decode(self, encoded: EncodedVideo, progress: Progress | None = None) -> np.ndarray:
        """`EncodedVideo` -> uint8 `(T, H, W, 3)` frames of the original size and length."""
        self._check_compatible(encoded)
        cfg, tiling = self.config, self.tiling
        tokens = encoded.latents if encoded.latents is not None else encoded.indices
        assert tokens is not None
        h, w = encoded.height, encoded.width
        out = np.empty((encoded.num_frames, h, w, 3), np.uint8)
        chunks = encoded.chunks
        offsets = np.cumsum([0] + [n for _, _, n in chunks])
        done = 0
        for group in self._groups(chunks, self._num_tiles(encoded.padded_height, encoded.padded_width)):
            if cfg.kind == "continuous":
                batch = torch.stack([tokens[:, offsets[i] : offsets[i + 1]] for i in group])
            else:
                batch = torch.stack([tokens[offsets[i] : offsets[i + 1]] for i in group])
            video = decode_tiled(self.model, batch, tiling.tile, tiling.overlap, tiling.batch_size)
            pixels = ((video.clamp_(-1, 1) + 1) * 127.5).round_().to(torch.uint8)  # (G, 3, L, PH, PW)
            for clip, i in zip(pixels, group, strict=True):
                start, r, _ = chunks[i]
                out[start : start + r] = clip[:, :r, :h, :w].permute(1, 2, 3, 0).numpy()
            done += len(group)
            if progress is not None:
                progress(done, len(chunks))
        return out


def roundtrip_metrics(
    original: np.ndarray, decoded: np.ndarray, encoded: EncodedVideo
) -> dict[str, float | None]:
    """PSNR and SSIM (dB and index, means over frames), compression ratio and DV bits per pixel, as fixed-length
    token ids (`bits_per_pixel`) and entropy-coded (`coded_bits_per_pixel`, see `worldfm.tokenizers.entropy`).

    SSIM is None for frames smaller than its 11x11 window; PSNR is None when the frames are identical
    (infinite). Both bits per pixel are None for continuous tokenizers.
    """
    from worldfm.video.metrics import SSIM_WINDOW, psnr, ssim

    if original.shape != decoded.shape:
        raise ConfigError(f"original {original.shape} and decoded {decoded.shape} differ in shape")
    p = float(psnr(original, decoded).per_video)
    s = float(ssim(original, decoded).per_video) if min(original.shape[1:3]) >= SSIM_WINDOW else None
    return {
        "psnr": p if math.isfinite(p) else None,
        "ssim": s,
        "compression_ratio": encoded.compression_ratio,
        "bits_per_pixel": encoded.bits_per_pixel,
        "coded_bits_per_pixel": encoded.coded_bits_per_pixel(),
    }
