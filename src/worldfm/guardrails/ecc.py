"""Error-correcting code of the watermark: payload + keyed CRC-32, Reed-Solomon, key scrambling.

Layout of one codeword (112 bits):

    payload (6 bytes) | CRC-32 of payload XOR key mask (4 bytes) | RS parity (4 bytes)

Reed-Solomon RS(14, 10) over GF(256) (`reedsolo`) corrects 2 wrong bytes, or e erased bytes plus
floor((4 - e) / 2) wrong ones. The coded bits are XORed with a key-derived scrambling sequence so
that structured inputs (all-zero soft decisions of a flat frame, say) do not map to a codeword.

False-positive bound (the math behind `false_positive_bound`). Under the null hypothesis (no
watermark, or another key) the 112 hard decisions are independent fair coins: the spreading signs
and the scrambler are key-derived pseudo-random, so the received word r is uniform on GF(256)^14.
One decoding attempt that erases e bytes succeeds only if r lies within Hamming distance
t = floor((4 - e) / 2) of a codeword of the punctured code RS(14 - e, 10), which is still MDS, so

    P(decode) = V(14 - e, t) / 256^(4 - e),   V(n, t) = sum_{i <= t} C(n, i) 255^i.

It is then accepted only if the 32-bit keyed check matches: probability 2^-32 for a message that is
uniform given the decoder's output. With attempts e in ERASURE_ATTEMPTS (0, 2, 4) the union bound is

    P(accept | null) <= 2^-32 * (V(14,2)/256^4 + V(12,1)/256^2 + 1) ~= 2.45e-10 per sync candidate,

and the detector tries a few sync candidates (`watermark.SYNC_CANDIDATES`), far below 1e-6.
"""

from __future__ import annotations

import hashlib
import math
import zlib

import numpy as np
from reedsolo import ReedSolomonError, RSCodec

PAYLOAD_BYTES = 6
CHECK_BYTES = 4
PARITY_BYTES = 4
MESSAGE_BYTES = PAYLOAD_BYTES + CHECK_BYTES
CODE_BYTES = MESSAGE_BYTES + PARITY_BYTES
CODE_BITS = 8 * CODE_BYTES  # 112
ERASURE_ATTEMPTS = (0, 2, 4)  # bytes erased (least reliable first) in successive decoding attempts

_RS = RSCodec(PARITY_BYTES)


def _key_bytes(key: bytes, label: bytes, n: int) -> bytes:
    """n pseudo-random bytes derived from `key` for one purpose (`label`), by SHA-256 in counter mode."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(label + counter.to_bytes(4, "big") + key).digest()
        counter += 1
    return out[:n]


def _check(payload: bytes, key: bytes) -> bytes:
    crc = zlib.crc32(payload).to_bytes(CHECK_BYTES, "big")
    return bytes(a ^ b for a, b in zip(crc, _key_bytes(key, b"check", CHECK_BYTES), strict=True))


def scramble_bits(key: bytes) -> np.ndarray:
    """Key-derived 0/1 sequence of length CODE_BITS XORed onto the coded bits."""
    return np.unpackbits(np.frombuffer(_key_bytes(key, b"scramble", CODE_BYTES), np.uint8))


def encode_bits(payload: bytes, key: bytes) -> np.ndarray:
    """Payload (PAYLOAD_BYTES bytes) -> scrambled coded bits, shape (CODE_BITS,), values 0/1 uint8."""
    if len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"payload must be {PAYLOAD_BYTES} bytes, got {len(payload)}")
    code = bytes(_RS.encode(payload + _check(payload, key)))
    return np.unpackbits(np.frombuffer(code, np.uint8)) ^ scramble_bits(key)


def decode_soft(soft: np.ndarray, key: bytes) -> tuple[bytes, int] | None:
    """Soft decisions (CODE_BITS,) float (positive = bit 1, magnitude = reliability) -> payload.

    Returns (payload, bytes corrected) for the first attempt that decodes and passes the keyed check,
    or None. Erasure attempts erase the least reliable bytes (smallest min |soft| over their bits).
    """
    bits = (soft > 0).astype(np.uint8) ^ scramble_bits(key)
    word = np.packbits(bits).tobytes()
    reliability = np.abs(soft).reshape(CODE_BYTES, 8).min(axis=1)
    order = [int(i) for i in np.argsort(reliability, kind="stable")]
    for erased in ERASURE_ATTEMPTS:
        try:
            msg, _, errata = _RS.decode(word, erase_pos=sorted(order[:erased]) or None)
        except ReedSolomonError:
            continue
        msg = bytes(msg)
        payload, check = msg[:PAYLOAD_BYTES], msg[PAYLOAD_BYTES:]
        if check == _check(payload, key):
            return payload, len(errata)
    return None


def false_positive_bound() -> float:
    """Upper bound on P(one sync candidate decodes and passes the check | no watermark); see module doc."""

    def volume(n: int, t: int) -> float:
        return float(sum(math.comb(n, i) * 255**i for i in range(t + 1)))

    total = 0.0
    for erased in ERASURE_ATTEMPTS:
        n, slack = CODE_BYTES - erased, PARITY_BYTES - erased
        total += volume(n, slack // 2) / 256.0**slack
    return total * 2.0**-32
