"""`EncodedVideo`: tokenizer latents or token ids plus everything needed to decode them, as .safetensors.

File layout: one tensor, `latents` `(C, n, h, w)` (CV; float32/float16/bfloat16) or `indices`
`(n, h, w)` (DV; int32), or for DV saved with `compress=True` `indices_coded` (uint8 bytes of
`worldfm.tokenizers.entropy.encode_indices`, with `indices_coding`, `indices_shape` and
`indices_crc32` in the metadata; format version 2), and string metadata: the model (tier name or model folder), its config,
the input's size, frame count and fps, the padding and the temporal chunking. `worldfm tokenize
decode FILE` needs nothing else.

Temporal layout: the video is cut into independent causal chunks of `chunk_frames` frames (the last
one may be shorter); a chunk of r frames is padded to `1 + ceil((r-1)/tf)*tf` frames by repeating its
last frame and has `1 + ceil((r-1)/tf)` latent frames; chunks are concatenated along n.
Spatially, frames were padded on the bottom/right by edge replication to multiples of the spatial
factor (`padded_height`, `padded_width`); decoding crops back.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from worldfm.errors import ConfigError, WorldfmError
from worldfm.tokenizers import entropy
from worldfm.tokenizers.config import TokenizerConfig
from worldfm.tokenizers.pretrained import atomic_file

FORMAT = "worldfm.tokens"
FORMAT_VERSION = 2  # the newest this reads: version 2 added compressed DV indices (`indices_coded`)
PLAIN_FORMAT_VERSION = 1  # what files without compressed indices are written as, so older readers open them
LATENT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def chunk_layout(num_frames: int, chunk_frames: int, temporal_factor: int) -> list[tuple[int, int, int]]:
    """[(first frame, frames, latent frames)] of each temporal chunk of a `num_frames` video."""
    out = []
    for start in range(0, num_frames, chunk_frames):
        r = min(chunk_frames, num_frames - start)
        out.append((start, r, 1 + math.ceil((r - 1) / temporal_factor)))
    return out


@dataclass
class EncodedVideo:
    """Latents (CV) or indices (DV) of one video, with the facts needed to decode it to its exact shape.

    - latents: `(C, n, h, w)` float (CV) or None; indices: `(n, h, w)` int64 (DV) or None.
    - model: the tier name or model folder used; config: its `TokenizerConfig`.
    - num_frames, height, width, fps: the input video (fps 0.0 when unknown).
    - padded_height, padded_width: frame size after edge padding to multiples of the spatial factor.
    - chunk_frames: frames per independent temporal chunk (see the module doc).
    """

    model: str
    config: TokenizerConfig
    latents: torch.Tensor | None
    indices: torch.Tensor | None
    num_frames: int
    height: int
    width: int
    fps: float
    padded_height: int
    padded_width: int
    chunk_frames: int

    def __post_init__(self) -> None:
        self.validate()

    # ----- facts -----
    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def chunks(self) -> list[tuple[int, int, int]]:
        return chunk_layout(self.num_frames, self.chunk_frames, self.config.temporal_factor)

    @property
    def num_latent_frames(self) -> int:
        return sum(c[2] for c in self.chunks)

    @property
    def num_pixels(self) -> int:
        """Frames x height x width of the input video (unpadded)."""
        return self.num_frames * self.height * self.width

    @property
    def bits_per_pixel(self) -> float | None:
        """DV: token bits (log2 codebook per token, no entropy coding) per input pixel; None for CV."""
        if self.indices is None:
            return None
        return self.indices.numel() * math.log2(self.config.codebook_size or 1) / self.num_pixels

    def coded_bits_per_pixel(self) -> float | None:
        """DV: bits of the entropy-coded indices (what `save(compress=True)` stores, see
        `worldfm.tokenizers.entropy`) per input pixel; None for CV."""
        if self.indices is None:
            return None
        return 8 * len(self.coded_indices()) / self.num_pixels

    def coded_indices(self) -> bytes:
        """DV: the indices entropy-coded (`entropy.encode_indices`), as `save(compress=True)` stores them.
        Computed once per state of `indices` (saving and reporting the rate share one coding pass)."""
        if self.indices is None:
            raise ConfigError("only DV (discrete) latents have token indices to entropy-code")
        key = (id(self.indices), self.indices._version, self.indices.data_ptr())
        cached = getattr(self, "_coded", None)
        if cached is None or cached[0] != key:
            raw = self.indices.to(torch.int32).contiguous().numpy()
            cached = (key, entropy.encode_indices(raw, self.config.fsq_levels))
            self._coded = cached
        return cached[1]

    @property
    def compression_ratio(self) -> float:
        """Input size over latent size. CV: values (T*H*W*3) over latent values; DV: bits (T*H*W*24)
        over token bits. Padding latents count, so odd sizes compress a little less."""
        if self.indices is not None:
            return self.num_pixels * 24 / (self.indices.numel() * math.log2(self.config.codebook_size or 2))
        assert self.latents is not None
        return self.num_pixels * 3 / self.latents.numel()

    def validate(self) -> None:
        """Raise ConfigError if the tensors do not match the sizes and the config."""
        c = self.config
        sf = c.spatial_factor
        if min(self.num_frames, self.height, self.width) < 1:
            raise ConfigError(f"bad video size {self.num_frames}x{self.height}x{self.width}")
        for name, padded, size in (
            ("height", self.padded_height, self.height),
            ("width", self.padded_width, self.width),
        ):
            if padded % sf or not size <= padded < size + sf:
                raise ConfigError(f"padded {name} {padded} does not fit {size} and spatial factor {sf}")
        if self.chunk_frames < 1 or (self.chunk_frames - 1) % c.temporal_factor:
            raise ConfigError(f"chunk_frames {self.chunk_frames} is not 1 + k*{c.temporal_factor}")
        if not (math.isfinite(self.fps) and self.fps >= 0):
            raise ConfigError(f"fps must be >= 0, got {self.fps}")
        grid = (self.num_latent_frames, self.padded_height // sf, self.padded_width // sf)
        if c.kind == "discrete":
            if self.indices is None or self.latents is not None:
                raise ConfigError("a discrete tokenizer's encoding holds indices only")
            if tuple(self.indices.shape) != grid or self.indices.is_floating_point():
                raise ConfigError(
                    f"indices must be integer {grid}, got {tuple(self.indices.shape)} {self.indices.dtype}"
                )
        else:
            if self.latents is None or self.indices is not None:
                raise ConfigError("a continuous tokenizer's encoding holds latents only")
            if tuple(self.latents.shape) != (c.latent_dim, *grid) or not self.latents.is_floating_point():
                raise ConfigError(
                    f"latents must be float {(c.latent_dim, *grid)}, got {tuple(self.latents.shape)} {self.latents.dtype}"
                )

    # ----- file I/O -----
    def metadata(self) -> dict[str, str]:
        return {
            "format": FORMAT,
            "format_version": str(PLAIN_FORMAT_VERSION),
            "model": self.model,
            "config": json.dumps(self.config.to_dict()),
            "num_frames": str(self.num_frames),
            "height": str(self.height),
            "width": str(self.width),
            "fps": repr(float(self.fps)),
            "padded_height": str(self.padded_height),
            "padded_width": str(self.padded_width),
            "chunk_frames": str(self.chunk_frames),
            "pad_mode": "edge",
        }

    def save(
        self, path: str | os.PathLike[str], latent_dtype: str = "float32", compress: bool = False
    ) -> Path:
        """Write to a .safetensors file atomically. CV latents are stored in `latent_dtype`, DV indices as int32,
        or with `compress` entropy-coded (lossless; ignored for CV)."""
        path = Path(path)
        if path.suffix != ".safetensors":
            raise ConfigError(f"{path}: latents files must end in .safetensors")
        if latent_dtype not in LATENT_DTYPES:
            raise ConfigError(f"latent dtype must be one of {sorted(LATENT_DTYPES)}, got {latent_dtype!r}")
        metadata = self.metadata()
        if self.indices is not None and compress:
            raw = self.indices.to(torch.int32).contiguous()
            coded = self.coded_indices()
            tensors = {"indices_coded": torch.frombuffer(bytearray(coded), dtype=torch.uint8)}
            metadata |= {
                "format_version": str(FORMAT_VERSION),
                "indices_coding": entropy.CODING,
                "indices_shape": ",".join(str(s) for s in raw.shape),
                "indices_crc32": str(zlib.crc32(raw.numpy().astype("<i4").tobytes())),
            }
        elif self.indices is not None:
            tensors = {"indices": self.indices.to(torch.int32).contiguous()}
        else:
            assert self.latents is not None
            tensors = {"latents": self.latents.to(LATENT_DTYPES[latent_dtype]).contiguous()}
        if path.is_dir():
            raise WorldfmError(f"{path}: is a folder, expected a file path")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_file(path) as tmp:
                save_file(tensors, str(tmp), metadata=metadata)
        except OSError as exc:
            raise WorldfmError(f"{path}: cannot write ({exc.__class__.__name__}: {exc})") from exc
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EncodedVideo:
        """Read a file written by `save`; anything missing or inconsistent raises WorldfmError naming the file."""
        path = Path(path)
        if not path.exists():
            raise WorldfmError(f"{path}: file does not exist")
        if path.is_dir():
            raise WorldfmError(f"{path}: is a folder, expected a .safetensors latents file")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta: dict[str, Any] = dict(f.metadata() or {})
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise WorldfmError(
                f"{path}: not a readable latents file ({exc.__class__.__name__}: {exc})"
            ) from exc
        if meta.get("format") != FORMAT:
            raise WorldfmError(
                f"{path}: not a worldfm latents file (format {meta.get('format')!r}, expected {FORMAT!r})"
            )
        try:
            version = int(meta["format_version"])
            if version > FORMAT_VERSION:
                raise WorldfmError(
                    f"{path}: latents format {version} is newer than this worldfm reads ({FORMAT_VERSION})"
                )
            config = TokenizerConfig.from_dict(json.loads(meta["config"]))
            indices = tensors["indices"].long() if "indices" in tensors else None
            if "indices_coded" in tensors:
                indices = _decode_indices(tensors["indices_coded"], meta, config)
            return cls(
                model=meta["model"],
                config=config,
                latents=tensors["latents"].float() if "latents" in tensors else None,
                indices=indices,
                num_frames=int(meta["num_frames"]),
                height=int(meta["height"]),
                width=int(meta["width"]),
                fps=float(meta["fps"]),
                padded_height=int(meta["padded_height"]),
                padded_width=int(meta["padded_width"]),
                chunk_frames=int(meta["chunk_frames"]),
            )
        except KeyError as exc:
            raise WorldfmError(f"{path}: corrupt latents file (missing {exc})") from exc
        except (ValueError, TypeError, json.JSONDecodeError) as exc:  # ConfigError is a ValueError
            raise WorldfmError(f"{path}: corrupt latents file ({exc})") from exc


def _decode_indices(coded: torch.Tensor, meta: dict[str, Any], config: TokenizerConfig) -> torch.Tensor:
    """The int64 indices of a compressed file's `indices_coded` bytes, checked against its CRC-32
    (ConfigError if the coding is unknown or the bytes are damaged)."""
    if meta["indices_coding"] != entropy.CODING:
        raise ConfigError(
            f"unknown indices coding {meta['indices_coding']!r} (this worldfm reads {entropy.CODING!r})"
        )
    shape = tuple(int(s) for s in meta["indices_shape"].split(","))
    indices = entropy.decode_indices(coded.numpy().tobytes(), shape, config.fsq_levels)
    if zlib.crc32(indices.astype("<i4").tobytes()) != int(meta["indices_crc32"]):
        raise ConfigError("compressed indices are damaged (their CRC-32 does not match)")
    return torch.from_numpy(indices)
