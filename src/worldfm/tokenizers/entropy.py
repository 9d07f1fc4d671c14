"""Lossless entropy coding of discrete (DV) token indices: the compressed form that
`worldfm tokenize encode --compress` stores, and the coded bits per pixel that `roundtrip` reports and
the benchmark sets against H.264 (whose own bits are entropy-coded too).

Each token index splits into its FSQ digits, one per level (`index = sum(digit_i * basis_i)`, the
FSQ quantiser's own layout), and every digit is range-coded (constriction's queue `RangeEncoder`,
a well-kept Rust coder) under an adaptive categorical model picked by a context:

- the reference token: the token at the same place one latent frame earlier; in the first latent frame
  the token one row above; none in the first row of the first frame. Video tokens repeat across time
  (static backgrounds), so the reference predicts most digits;
- the context is the reference's same digit (`L + 1` values, one meaning "no reference") and whether
  this token's earlier digits all equal the reference's (2 values).

The models' counts start at 1/2 per symbol (Krichevsky-Trofimov) and are updated after each latent
row, so one row's digits are coded in one vectorised call and the decoder retraces the same steps.
Coding is exact: `decode_indices(encode_indices(x)) == x` for any valid indices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import constriction
import numpy as np

from worldfm.errors import ConfigError
from worldfm.tokenizers.fsq import digit_basis

CODING = "fsq-context-range-v1"  # the name files record, so a later coder can tell its input apart
_FAMILY = constriction.stream.model.Categorical(perfect=False)


def fsq_digits(indices: np.ndarray, levels: Sequence[int]) -> np.ndarray:
    """Int indices `(...)` in [0, prod(levels)) -> their FSQ digits `(..., len(levels))`, digit i in [0, levels[i])."""
    basis = np.asarray(digit_basis(levels), dtype=np.int64)
    return (np.asarray(indices, dtype=np.int64)[..., None] // basis) % np.asarray(levels)


def digits_to_indices(digits: np.ndarray, levels: Sequence[int]) -> np.ndarray:
    """The inverse of `fsq_digits`: `(..., len(levels))` digits -> int64 indices `(...)`."""
    basis = np.asarray(digit_basis(levels), dtype=np.int64)
    return (np.asarray(digits, dtype=np.int64) * basis).sum(axis=-1)


def _check(shape: Sequence[int], levels: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"token indices must have a shape (frames, height, width) >= 1, got {tuple(shape)}")
    if not levels or min(levels) < 2:
        raise ConfigError(f"FSQ levels must all be >= 2, got {tuple(levels)}")
    n, h, w = (int(s) for s in shape)
    return n, h, w


def _walk(
    shape: tuple[int, int, int],
    levels: Sequence[int],
    code_row: Callable[[int, int, int, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Visit every (latent frame, row, digit) in coding order; `code_row(f, y, d, probabilities)` codes that
    row's digit d (`probabilities` `(width, L)`, unnormalised) and returns its `(width,)` digits.
    Returns all digits `(n, h, w, len(levels))`. Encoder and decoder share this walk, so their models agree."""
    n, h, w = shape
    digits = np.zeros((n, h, w, len(levels)), dtype=np.int64)
    counts = [np.ones(((level + 1) * 2, level), dtype=np.int64) for level in levels]  # in halves: 1 = 1/2
    for f in range(n):
        for y in range(h):
            ref = digits[f - 1, y] if f else (digits[f, y - 1] if y else None)
            match = np.ones(w, dtype=np.int64)
            for d, level in enumerate(levels):
                ref_d = np.full(w, level) if ref is None else ref[:, d]
                context = ref_d * 2 + match
                row = code_row(f, y, d, counts[d][context].astype(np.float64))
                digits[f, y, :, d] = row
                np.add.at(counts[d], (context, row), 2)
                match &= row == ref_d
    return digits


def encode_indices(indices: np.ndarray, levels: Sequence[int]) -> bytes:
    """DV token indices `(n, h, w)` (ints in [0, prod(levels))) -> the compressed bytes (a multiple of 4)."""
    idx = np.asarray(indices)
    shape = _check(idx.shape, levels)
    if not np.issubdtype(idx.dtype, np.integer):
        raise ConfigError(f"token indices must be integers, got {idx.dtype}")
    size = int(np.prod(levels))
    if idx.min() < 0 or idx.max() >= size:
        raise ConfigError(f"token indices must lie in [0, {size}), got [{int(idx.min())}, {int(idx.max())}]")
    digits = fsq_digits(idx, levels)
    encoder = constriction.stream.queue.RangeEncoder()

    def code_row(f: int, y: int, d: int, probabilities: np.ndarray) -> np.ndarray:
        row = digits[f, y, :, d]
        encoder.encode(row.astype(np.int32), _FAMILY, probabilities)
        return row

    _walk(shape, levels, code_row)
    return encoder.get_compressed().astype("<u4").tobytes()


def decode_indices(data: bytes, shape: Sequence[int], levels: Sequence[int]) -> np.ndarray:
    """The inverse of `encode_indices`: compressed bytes -> int64 indices of `shape` `(n, h, w)`.
    ConfigError if the bytes cannot be those of such indices (a checksum belongs to the caller)."""
    dims = _check(shape, levels)
    if len(data) % 4:
        raise ConfigError(f"compressed token indices must be whole 32-bit words, got {len(data)} bytes")
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))

    def code_row(f: int, y: int, d: int, probabilities: np.ndarray) -> np.ndarray:
        return np.asarray(decoder.decode(_FAMILY, probabilities), dtype=np.int64)

    try:
        digits = _walk(dims, levels, code_row)
    except (ValueError, RuntimeError, AssertionError) as exc:  # what constriction raises on bad input
        raise ConfigError(f"compressed token indices are corrupt ({exc})") from exc
    return digits_to_indices(digits, levels)


def coded_bits(indices: np.ndarray, levels: Sequence[int]) -> int:
    """Bits of `encode_indices(indices, levels)` (whole 32-bit words, as stored)."""
    return 8 * len(encode_indices(indices, levels))
