"""Invisible, keyed watermark in the luma of video, robust to re-encoding, resizing, cropping, frame drops.

Scheme (quantisation index modulation, QIM, of low-frequency block projections; same layout in every
frame, so any subset of frames reads it):

- Blocks of b x b pixels (b = 8 below a 192-px short side, then 8 more per 128 px) on a grid from the
  top-left corner; a tile is 8 x 8 blocks. Each block has 3 carriers: its projections on the
  orthonormal 2-D DCT basis images (0,1), (1,0) and (1,1) (low frequencies: what H.264 keeps, and
  blind to a brightness offset). The tile's 192 carriers carry the 112 coded bits (payload + keyed
  CRC-32 + Reed-Solomon parity, `worldfm.guardrails.ecc`), each with a key-derived dither.
- Embedding moves each projection y to the nearest point of its bit's lattice
  {dither + bit * step/2 + k * step} (informed embedding: the host image does not interfere, unlike
  spread spectrum, which at 40 dB could not beat the host at these sizes). The change goes to luma
  only (R, G, B move together; chroma unchanged). Mean squared change per pixel is
  3 step^2 / (12 * 64) at the reference scale: the default step 38 gives ~40.7 dB PSNR.
- Detection resamples frames so blocks are 8 px, over a geometric grid of block sizes (a resize is a
  change of block size), computes every carrier's projection anchored at every pixel (three
  filter2D), folds the phasors exp(2 pi i y / step) modulo the tile and sums them over frames (frame
  drops only shorten the sum; a crop is a cyclic shift of the folded tile). For every tile shift at
  once it reads the soft bits -Re(phasor * exp(-2 pi i dither)) and scores the shift by the sum of
  |soft bit| (large only when aligned). The best scales are refined on the whole frame; the best
  `SYNC_CANDIDATES` (scale, shift) pairs are decoded.

Detection threshold and false-positive rate: a video is declared watermarked only if one of the
`SYNC_CANDIDATES` candidates Reed-Solomon-decodes *and* its keyed CRC-32 matches. Under no watermark
(or another key) the dithered soft bits have uniform phases, so the hard decisions are fair coins and
per candidate P(accept) <= 2.45e-10 (derivation in `ecc.py`); by the union bound over 4 candidates
the false-positive rate is <= 1e-9, below the 1e-6 target, whatever the image content. `confidence`
is 1 - that bound when detected and 0 otherwise; `details` gives the sync z (best shift score above
the median over shifts, in standard deviations), block size, shift, the agreement of the soft bits
with the decoded codeword and the bytes corrected.

Frames at this edge are (T, H, W, 3) uint8 RGB. A fixed public key is always mixed in; a user key
makes the mark private (detection with another key finds nothing).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from worldfm.errors import ConfigError, VideoError
from worldfm.guardrails import ecc

DEFAULT_KEY = b"worldfm-watermark-v1"
BLOCK_REF = 8  # block side (px) the detector resamples to
GRID = 8  # blocks per tile side: a tile is 64 px at the reference scale
CARRIERS = 3  # low-frequency DCT coefficients per block: (0,1), (1,0), (1,1)
DEFAULT_STRENGTH = 38.0  # QIM step at the reference scale (~40.7 dB PSNR)
SYNC_CANDIDATES = 4
SYNC_FRAMES = 8  # frames used by the scale/shift search (all frames are used to read the bits)
BLOCK_SIZES = (3.6, 64.0)  # range of block sizes (px) the detector searches
MIN_SIDE = 16
PAYLOAD_BYTES = ecc.PAYLOAD_BYTES
N_CARRIERS = GRID * GRID * CARRIERS  # 192 per tile: bit i is carried by carriers i, i + 112, ...


def generation_payload(model_name: str, generation_id: int) -> bytes:
    """6-byte payload: 16-bit model tag (first bytes of SHA-256 of the name) + 32-bit generation id."""
    if not model_name:
        raise ConfigError("model_name must be a non-empty string")
    if (
        isinstance(generation_id, bool)
        or not isinstance(generation_id, int)
        or not 0 <= generation_id < 2**32
    ):
        raise ConfigError(f"generation_id must be an integer in [0, 2**32), got {generation_id!r}")
    tag = hashlib.sha256(model_name.encode()).digest()[:2]
    return tag + generation_id.to_bytes(4, "big")


def model_tag(model_name: str) -> str:
    """The 16-bit tag `generation_payload` uses for `model_name`, as 4 hex digits."""
    return hashlib.sha256(model_name.encode()).digest()[:2].hex()


def parse_payload(payload: bytes | str) -> dict[str, Any]:
    """Split a payload (bytes or hex) into {"model_tag": 4 hex digits, "generation_id": int}."""
    data = payload_from_hex(payload) if isinstance(payload, str) else bytes(payload)
    if len(data) != PAYLOAD_BYTES:
        raise ConfigError(f"payload must be {PAYLOAD_BYTES} bytes, got {len(data)}")
    return {"model_tag": data[:2].hex(), "generation_id": int.from_bytes(data[2:], "big")}


def payload_from_hex(text: str) -> bytes:
    """Parse a payload given as hex (12 digits, optional 0x); raise ConfigError on bad hex or length."""
    digits = text.strip().removeprefix("0x").removeprefix("0X")
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        raise ConfigError(
            f"payload {text!r} is not valid hex; expected {2 * PAYLOAD_BYTES} hex digits"
        ) from None
    if len(data) != PAYLOAD_BYTES:
        raise ConfigError(
            f"payload {text!r} is {len(data)} bytes; expected exactly {PAYLOAD_BYTES} bytes "
            f"({2 * PAYLOAD_BYTES} hex digits: 16-bit model tag + 32-bit generation id)"
        )
    return data


@dataclass(frozen=True)
class WatermarkResult:
    """Outcome of `detect_watermark`.

    `payload` is the recovered payload as hex (None when not detected); `confidence` is
    1 - (false-positive bound) when detected, else 0.0. `details` holds the sync score (z),
    the cell size and shift found, bit agreement of the soft bits with the decoded codeword and the
    bytes the Reed-Solomon decoder corrected.
    """

    detected: bool
    payload: str | None
    confidence: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "detected": self.detected,
            "payload": self.payload,
            "confidence": self.confidence,
            **({"payload_fields": parse_payload(self.payload)} if self.payload else {}),
            **self.details,
        }


@dataclass(frozen=True, eq=False)
class _Layout:
    """Key-derived tile layout: QIM dither per carrier and the bit each carrier carries."""

    dither: np.ndarray  # (GRID, GRID, CARRIERS) in [0, 1): fraction of the QIM step
    bit_of: np.ndarray  # (GRID, GRID, CARRIERS) int: coded-bit index carried


def _key(key: bytes | str | None) -> bytes:
    if key is None:
        return DEFAULT_KEY
    user = key.encode() if isinstance(key, str) else bytes(key)
    if not user:
        raise ConfigError("watermark key must be non-empty (pass None for the public default)")
    return hashlib.sha256(DEFAULT_KEY + b"\x00" + user).digest()


@lru_cache(maxsize=16)
def _layout(key: bytes) -> _Layout:
    seed = int.from_bytes(hashlib.sha256(b"layout" + key).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    dither = rng.random((GRID, GRID, CARRIERS))
    # Carrier k of the permutation carries bit k mod 112: copies of a bit land far apart in the tile.
    bit_of = np.empty(N_CARRIERS, np.int64)
    bit_of[rng.permutation(N_CARRIERS)] = np.arange(N_CARRIERS) % ecc.CODE_BITS
    return _Layout(dither, bit_of.reshape(GRID, GRID, CARRIERS))


@lru_cache(maxsize=32)
def _basis(size: int) -> np.ndarray:
    """(CARRIERS, size, size) float32 orthonormal 2-D DCT-II basis images (0,1), (1,0), (1,1)."""
    n = np.arange(size)

    def cos(k: int) -> np.ndarray:
        v = np.cos(np.pi * (2 * n + 1) * k / (2 * size))
        return v / np.linalg.norm(v)

    return np.stack([np.outer(cos(0), cos(1)), np.outer(cos(1), cos(0)), np.outer(cos(1), cos(1))]).astype(
        np.float32
    )


def block_size_for(height: int, width: int) -> int:
    """Embedding block side in pixels: 8 up to a 191-px short side, then 8 more per 128 px."""
    return BLOCK_REF * max(1, round(min(height, width) / 128))


def _luma(frames: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 BT.601 luma in [0, 255]."""
    f = frames.astype(np.float32)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def _check_frames(frames: np.ndarray, what: str) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise ConfigError(f"{what}: frames must be a uint8 numpy array, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ConfigError(f"{what}: frames must have shape (T, H, W, 3) with T >= 1, got {frames.shape}")
    if min(frames.shape[1:3]) < MIN_SIDE:
        raise ConfigError(
            f"{what}: frames must be at least {MIN_SIDE}x{MIN_SIDE} px, got {frames.shape[1:3]}"
        )


def embed_watermark(
    frames: np.ndarray,
    payload: bytes,
    *,
    strength: float = DEFAULT_STRENGTH,
    key: bytes | str | None = None,
) -> np.ndarray:
    """Embed `payload` (6 bytes) in every frame; returns new frames, same shape, uint8.

    frames: (T, H, W, 3) uint8 RGB, H and W >= 16. strength: QIM step at the reference scale (> 0;
    PSNR ~ 10 log10(255^2 * 256 / strength^2), the default keeps it above 40 dB; detection must be
    given the same value). key: optional user
    key (bytes or str) mixed with the public one.
    """
    _check_frames(frames, "embed_watermark")
    if len(payload) != PAYLOAD_BYTES:
        raise ConfigError(f"payload must be {PAYLOAD_BYTES} bytes, got {len(payload)}")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 200:
        raise ConfigError(f"strength must be a number in (0, 200], got {strength!r}")
    k = _key(key)
    layout = _layout(k)
    _, height, width, _ = frames.shape
    b = block_size_for(height, width)
    nby, nbx = height // b, width // b
    basis = _basis(b)
    step = float(strength) * b / BLOCK_REF  # orthonormal projections grow with the block side
    bits = ecc.encode_bits(bytes(payload), k).astype(np.float64)
    # Per block of the frame: its tile position -> dither and bit of each carrier.
    iy, ix = np.arange(nby) % GRID, np.arange(nbx) % GRID
    offset = (layout.dither[iy][:, ix] + 0.5 * bits[layout.bit_of[iy][:, ix]]) * step  # (nby, nbx, C)
    out = frames.copy()
    for t, frame in enumerate(frames):
        luma = _luma(frame)[: nby * b, : nbx * b].reshape(nby, b, nbx, b)
        y = np.einsum("ibjc,kbc->ijk", luma, basis)  # (nby, nbx, C) projections
        target = np.round((y - offset) / step) * step + offset  # nearest point of the bit's lattice
        delta = np.einsum("ijk,kbc->ibjc", (target - y).astype(np.float32), basis).reshape(nby * b, nbx * b)
        # Adding the same delta to R, G and B changes luma by delta and leaves chroma unchanged.
        region = frame[: nby * b, : nbx * b].astype(np.float32) + delta[..., None] + 0.5
        out[t, : nby * b, : nbx * b] = np.clip(region, 0, 255).astype(np.uint8)
    return out


def _fold(values: np.ndarray, period: int) -> np.ndarray:
    """Sum a (h, w) array modulo `period` in both axes -> (period, period)."""
    h, w = values.shape
    ph, pw = -(-h // period) * period, -(-w // period) * period
    padded = np.zeros((ph, pw), values.dtype)
    padded[:h, :w] = values
    return padded.reshape(ph // period, period, pw // period, period).sum(axis=(0, 2))


def _phasor_folds(
    lumas: np.ndarray, block: float, step: float, window: int | None = None
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Resample frames so blocks are BLOCK_REF px; fold the carriers' QIM phasors modulo the tile.

    Returns (sync, data, count): sync (C, P, P) complex = sum of exp(4 pi i y / step) (period step/2,
    blind to the bit), data (C, P, P) = sum of exp(2 pi i y / step) (sign gives the bit), with y the
    projection of the block anchored at each pixel; count = projections summed. None if too small.
    """
    period = GRID * BLOCK_REF
    h, w = lumas.shape[1:]
    factor = BLOCK_REF / block
    size = (round(w * factor), round(h * factor))
    if min(size) < period // 2 + BLOCK_REF:
        return None  # under half a tile left: too little to read
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    basis = _basis(BLOCK_REF)
    seen = size if window is None else (min(size[0], window), min(size[1], window))
    vh, vw = seen[1] - BLOCK_REF + 1, seen[0] - BLOCK_REF + 1  # anchors of whole blocks
    sync = np.zeros((CARRIERS, period, period), np.complex64)
    data = np.zeros_like(sync)
    for luma in lumas:
        img = cv2.resize(luma, size, interpolation=interp)
        if window is not None:  # central window only: cheaper, and less sensitive to the scale
            y0, x0 = max(0, (size[1] - window) // 2), max(0, (size[0] - window) // 2)
            img = np.ascontiguousarray(img[y0 : y0 + window, x0 : x0 + window])
        for c in range(CARRIERS):
            y = cv2.filter2D(img, cv2.CV_32F, basis[c], anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)[
                :vh, :vw
            ]
            phase = (2.0 * np.pi / step) * y
            sync[c] += _fold(np.cos(2 * phase) + 1j * np.sin(2 * phase), period)
            data[c] += _fold(np.cos(phase) + 1j * np.sin(phase), period)
    return sync, data, len(lumas) * vh * vw * CARRIERS


@lru_cache(maxsize=16)
def _sync_tables(layout: _Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables to read every carrier at every tile shift at once from the folded data phasors.

    gather (N_CARRIERS, P*P) flat indices into the (C, P, P) fold; phases (N_CARRIERS,) the dither
    phasors; starts (CODE_BITS,) where each bit's run of carriers begins (carriers sorted by bit).
    """
    period = GRID * BLOCK_REF
    c, by, bx = np.meshgrid(np.arange(CARRIERS), np.arange(GRID), np.arange(GRID), indexing="ij")
    sy, sx = np.divmod(np.arange(period * period), period)
    rows = (sy[None, :] + BLOCK_REF * by.reshape(-1, 1)) % period
    cols = (sx[None, :] + BLOCK_REF * bx.reshape(-1, 1)) % period
    gather = (c.reshape(-1, 1) * period + rows) * period + cols
    phases = np.exp(-2j * np.pi * layout.dither.transpose(2, 0, 1).reshape(-1)).astype(np.complex64)
    # Sort carriers by bit so each bit is a contiguous run (summed with np.add.reduceat).
    bit = layout.bit_of.transpose(2, 0, 1).reshape(-1)
    order = np.argsort(bit, kind="stable")
    starts = np.searchsorted(bit[order], np.arange(ecc.CODE_BITS))
    return gather[order], phases[order], starts


def _soft_bits(data: np.ndarray, shift: tuple[int, int], layout: _Layout) -> np.ndarray:
    """Soft coded bits (CODE_BITS,) at a tile shift: positive means bit 1 (the half-step lattice)."""
    aligned = np.roll(data, (-shift[0], -shift[1]), axis=(1, 2))[:, ::BLOCK_REF, ::BLOCK_REF]
    score = -np.real(aligned * np.exp(-2j * np.pi * layout.dither.transpose(2, 0, 1)))  # (C, GRID, GRID)
    return np.bincount(
        layout.bit_of.transpose(2, 0, 1).ravel(), weights=score.ravel(), minlength=ecc.CODE_BITS
    )


def detect_watermark(
    frames: np.ndarray, *, key: bytes | str | None = None, strength: float = DEFAULT_STRENGTH
) -> WatermarkResult:
    """Look for the watermark in (T, H, W, 3) uint8 RGB frames (any size >= 16 px, any frame count).

    `strength` must be the QIM step the video was embedded with (the default unless changed). Returns a
    `WatermarkResult`; see the module docstring for the decision rule and its false-positive bound.
    """
    _check_frames(frames, "detect_watermark")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 200:
        raise ConfigError(f"strength must be a number in (0, 200], got {strength!r}")
    k = _key(key)
    layout = _layout(k)
    step = float(strength)
    lumas = _luma(frames)
    pick = np.unique(np.linspace(0, len(lumas) - 1, min(SYNC_FRAMES, len(lumas))).round().astype(int))

    gather, phases, assign = _sync_tables(layout)

    def sync(block: float, which: np.ndarray, window: int | None) -> tuple[float, tuple[int, int]] | None:
        folds = _phasor_folds(lumas[which], block, step, window)
        if folds is None:
            return None
        # Blind-to-bits score per tile shift: sum over bits of |soft bit| (large when aligned).
        data = folds[1].reshape(-1).astype(np.complex64)
        soft = np.real(data[gather] * phases[:, None])  # (carriers, shifts)
        bits = soft[assign]  # first carrier of each bit; bits have 1 or 2 carriers (192 over 112)
        two = np.diff(np.append(assign, N_CARRIERS)) > 1
        bits[two] += soft[assign[two] + 1]
        score = np.abs(bits).sum(axis=0)  # (shifts,)
        best = int(np.argmax(score))
        # Ranking statistic: how far the best shift stands above the spread over all shifts.
        z = float((score[best] - np.median(score)) / (score.std() + 1e-12))
        return z, divmod(best, GRID * BLOCK_REF)

    # Coarse: block sizes plausible for this frame size, on a central window of 1.5 tiles.
    short = min(lumas.shape[1:])
    lo, hi = max(BLOCK_SIZES[0], short / 24), min(BLOCK_SIZES[-1], short / 5)
    coarse = []
    for block in np.exp(np.arange(np.log(lo), np.log(hi) + 1e-9, np.log(1.03))):
        found = sync(float(block), pick, 3 * GRID * BLOCK_REF // 2)
        if found is not None:
            coarse.append((found[0], float(block)))
    coarse.sort(key=lambda c: -c[0])
    # Fine: around the best coarse scales, whole frames, small scale steps.
    candidates = []
    for _, block in coarse[:2]:
        for fine in block * np.exp(np.linspace(-0.02, 0.02, 5)):
            found = sync(float(fine), pick, None)
            if found is not None:
                candidates.append((found[0], float(fine), found[1]))
    candidates.sort(key=lambda c: -c[0])
    bound = SYNC_CANDIDATES * ecc.false_positive_bound()
    for z, block, shift in candidates[:SYNC_CANDIDATES]:
        folds = _phasor_folds(lumas, block, step)
        assert folds is not None
        soft = _soft_bits(folds[1], shift, layout)
        decoded = ecc.decode_soft(soft, k)
        if decoded is None:
            continue
        payload, corrected = decoded
        agree = float(np.mean((soft > 0) == ecc.encode_bits(payload, k).astype(bool)))
        return WatermarkResult(
            detected=True,
            payload=payload.hex(),
            confidence=1.0 - bound,
            details={
                "sync_z": round(z, 3),
                "block_size": round(block, 3),
                "shift": [int(shift[0]), int(shift[1])],
                "bit_agreement": round(agree, 4),
                "bytes_corrected": corrected,
                "false_positive_bound": bound,
                "frames": int(frames.shape[0]),
            },
        )
    return WatermarkResult(
        detected=False,
        payload=None,
        confidence=0.0,
        details={
            "sync_z": round(candidates[0][0], 3) if candidates else None,
            "false_positive_bound": bound,
            "frames": int(frames.shape[0]),
        },
    )


def embed_watermark_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    payload: bytes,
    *,
    strength: float = DEFAULT_STRENGTH,
    key: bytes | str | None = None,
    crf: int = 18,
) -> Path:
    """Read `src`, embed `payload`, write `dst` (atomic) at the same fps; returns `dst`."""
    from worldfm.video.io import probe_video, read_video, write_video

    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise VideoError(dst, "output must differ from the input file")
    info = probe_video(src)
    frames = read_video(src)
    marked = embed_watermark(frames, payload, strength=strength, key=key)
    return Path(write_video(dst, marked, fps=info.fps, crf=crf))


def detect_watermark_file(path: str | os.PathLike[str], *, key: bytes | str | None = None) -> WatermarkResult:
    """Read a video file and run `detect_watermark` on all its frames."""
    from worldfm.video.io import read_video

    return detect_watermark(read_video(path), key=key)
