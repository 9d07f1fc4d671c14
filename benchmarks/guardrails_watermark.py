"""Watermark robustness: ours against invisible-watermark's dwtDct, dwtDctSvd and rivaGan on the same clips.

Clips: scikit-image photos panned across frames (64x64 x 33, 256x256 x 24, 640x360 x 16) and a
simulator episode (`objects`, 64x64 x 33, what the nano world models output). Attacks: none, H.264
(libx264, yuv420p, via worldfm.video.io) at CRF 23 / 28 / 35, resize to half, crop 10% (centre and
top-left corner), drop every other frame, drop a random 30% of frames, brightness +20 / -20.

Per method, clip and attack: bit accuracy, exact payload recovery (0/1) and PSNR of the watermarked
frames against the originals. Ours carries 48 bits (payload) and is scored on the decoded payload (a
missed detection counts as 0.5 bit accuracy, the chance level); the baselines carry 32 bits per
frame, decoded per frame and majority-voted over frames. invisible-watermark refuses frames under
256x256 px, so its methods run on the larger clips only (a refused decode counts as chance). rivaGan
is slow: it runs on the first 4 frames of the 256x256 clip. False positives: our detector on the
unwatermarked clips under every attack.

    python benchmarks/guardrails_watermark.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from worldfm.guardrails.watermark import detect_watermark, embed_watermark, generation_payload
from worldfm.video.io import decode_video_bytes, encode_video_bytes

FPS = 16.0
BASELINES = ("dwtDct", "dwtDctSvd", "rivaGan")
BASELINE_BITS = 32


# ---------------------------------------------------------------- clips


def pan_clip(image: np.ndarray, height: int, width: int, frames: int, travel: float = 0.25) -> np.ndarray:
    """(frames, height, width, 3) uint8: a window panning diagonally over `image` (resized to fit)."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]
    scale = (1.0 + travel) * max(height / image.shape[0], width / image.shape[1])
    big = cv2.resize(
        image,
        (int(image.shape[1] * scale) + 1, int(image.shape[0] * scale) + 1),
        interpolation=cv2.INTER_AREA,
    )
    ys = np.linspace(0, big.shape[0] - height, frames)
    xs = np.linspace(0, big.shape[1] - width, frames)
    return np.stack(
        [big[int(y) : int(y) + height, int(x) : int(x) + width] for y, x in zip(ys, xs, strict=True)]
    )


def make_clips(quick: bool = False) -> dict[str, np.ndarray]:
    import skimage.data

    clips = {
        "photo64": pan_clip(skimage.data.astronaut(), 64, 64, 33),
        "sim64": _sim_clip(),
        "photo256": pan_clip(skimage.data.coffee(), 256, 256, 24),
    }
    if not quick:
        clips["photo640x360"] = pan_clip(skimage.data.rocket(), 360, 640, 16)
    return clips


def _sim_clip() -> np.ndarray:
    import worldfm.sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
    from worldfm.sim.registry import generate_episode

    return generate_episode("objects", seed=0, num_frames=33, size=64).frames


# ---------------------------------------------------------------- attacks


def _h264(crf: int) -> Callable[[np.ndarray], np.ndarray]:
    def attack(frames: np.ndarray) -> np.ndarray:
        return decode_video_bytes(encode_video_bytes(frames, fps=FPS, crf=crf), ".mp4")

    return attack


def _even(n: float) -> int:
    return max(2, int(n) // 2 * 2)


def resize_half(frames: np.ndarray) -> np.ndarray:
    h, w = frames.shape[1:3]
    size = (_even(w / 2), _even(h / 2))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def crop(frames: np.ndarray, fraction: float = 0.1, corner: bool = False) -> np.ndarray:
    """Keep (1 - fraction) of each side: centred, or from the top-left corner."""
    h, w = frames.shape[1:3]
    ch, cw = _even(h * (1 - fraction)), _even(w * (1 - fraction))
    y0, x0 = (0, 0) if corner else ((h - ch) // 2, (w - cw) // 2)
    return frames[:, y0 : y0 + ch, x0 : x0 + cw]


def drop_random(frames: np.ndarray, fraction: float = 0.3, seed: int = 0) -> np.ndarray:
    keep = np.random.default_rng(seed).random(len(frames)) >= fraction
    keep[0] = True
    return frames[keep]


def brightness(frames: np.ndarray, delta: int) -> np.ndarray:
    return np.clip(frames.astype(np.int16) + delta, 0, 255).astype(np.uint8)


ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda f: f,
    "crf23": _h264(23),
    "crf28": _h264(28),
    "crf35": _h264(35),
    "resize_half": resize_half,
    "crop10_centre": crop,
    "crop10_corner": lambda f: crop(f, corner=True),
    "drop_every_other": lambda f: f[::2],
    "drop_random30": drop_random,
    "brightness+20": lambda f: brightness(f, 20),
    "brightness-20": lambda f: brightness(f, -20),
}


# ---------------------------------------------------------------- scoring


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, np.uint8))


def _ours(clip: np.ndarray, payload: bytes) -> dict[str, Any]:
    start = time.perf_counter()
    marked = embed_watermark(clip, payload)
    embed_s = time.perf_counter() - start
    rows = {}
    detect_s = []
    for name, attack in ATTACKS.items():
        attacked = attack(marked)
        start = time.perf_counter()
        result = detect_watermark(attacked)
        detect_s.append(time.perf_counter() - start)
        if result.payload is None:
            acc, exact = 0.5, False
        else:
            acc = float(np.mean(_bits(bytes.fromhex(result.payload)) == _bits(payload)))
            exact = result.payload == payload.hex()
        rows[name] = {"bit_accuracy": acc, "exact": exact, "detected": result.detected}
    timing = {
        "embed_ms_per_frame": 1e3 * embed_s / len(clip),
        "detect_ms_per_frame": 1e3 * np.mean(detect_s) / len(clip),
    }
    return {"psnr": psnr(clip, marked), "attacks": rows, "timing": timing}


def _baseline(clip: np.ndarray, payload: bytes, method: str) -> dict[str, Any]:
    from imwatermark import WatermarkDecoder, WatermarkEncoder

    if method == "rivaGan":
        WatermarkEncoder.loadModel()  # the ONNX sessions are loaded on demand, once
        WatermarkDecoder.loadModel()
    encoder = WatermarkEncoder()
    encoder.set_watermark("bytes", payload)
    decoder = WatermarkDecoder("bytes", BASELINE_BITS)
    start = time.perf_counter()
    # imwatermark works on BGR frames.
    marked = np.stack([encoder.encode(f[..., ::-1].copy(), method)[..., ::-1] for f in clip])
    embed_s = time.perf_counter() - start
    truth = _bits(payload)
    rows = {}
    for name, attack in ATTACKS.items():
        attacked = attack(marked)
        votes = []
        for frame in attacked:
            try:
                decoded = decoder.decode(np.ascontiguousarray(frame[..., ::-1]), method)
            except RuntimeError:  # frame under 256x256 px: refused
                continue
            votes.append(_bits(bytes(decoded)[: BASELINE_BITS // 8]))
        if votes:
            bits = (np.mean(votes, axis=0) > 0.5).astype(np.uint8)
            acc, exact = float(np.mean(bits == truth)), bool(np.all(bits == truth))
        else:
            acc, exact = 0.5, False
        rows[name] = {"bit_accuracy": acc, "exact": exact, "decoded_frames": len(votes)}
    return {
        "psnr": psnr(clip, marked),
        "attacks": rows,
        "timing": {"embed_ms_per_frame": 1e3 * embed_s / len(clip)},
    }


def evaluate_watermark(quick: bool = False, baselines: bool = True) -> dict[str, Any]:
    """Robustness table for ours and the invisible-watermark baselines, plus false positives.

    Returns {"clips": {...shapes}, "results": {method: {clip: {"psnr", "attacks": {attack: {...}}}}},
    "false_positives": {"trials", "detections"}, "rows": flat table rows}.
    """
    clips = make_clips(quick)
    payload = generation_payload("dit-nano", 123456789)
    results: dict[str, dict[str, Any]] = {"ours": {}}
    for clip_name, clip in clips.items():
        results["ours"][clip_name] = _ours(clip, payload)
    if baselines:
        for method in BASELINES:
            results[method] = {}
            for clip_name, clip in clips.items():
                if min(clip.shape[1:3]) < 256:
                    continue  # refused by invisible-watermark
                frames = clip[:4] if method == "rivaGan" else clip
                if method == "rivaGan" and clip.shape[2] > 256:
                    continue  # too slow on 2 cores
                results[method][clip_name] = _baseline(frames, payload[:4], method)
    trials = detections = 0
    for clip in clips.values():
        for attack in ATTACKS.values():
            trials += 1
            detections += int(detect_watermark(attack(clip)).detected)
    rows = []
    for method, per_clip in results.items():
        for clip_name, res in per_clip.items():
            for attack, score in res["attacks"].items():
                rows.append(
                    {
                        "method": method,
                        "clip": clip_name,
                        "attack": attack,
                        "bit_acc": round(score["bit_accuracy"], 3),
                        "exact": int(score["exact"]),
                        "psnr_db": round(res["psnr"], 2),
                    }
                )
    return {
        "clips": {name: list(clip.shape) for name, clip in clips.items()},
        "payload": payload.hex(),
        "results": results,
        "false_positives": {"trials": trials, "detections": detections},
        "rows": rows,
    }


def _summary_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per method and clip: PSNR, then bit accuracy / exact per attack as 'acc/exact'."""
    out = []
    for method, per_clip in report["results"].items():
        for clip_name, res in per_clip.items():
            row: dict[str, Any] = {"method": method, "clip": clip_name, "psnr": f"{res['psnr']:.1f}"}
            for attack, score in res["attacks"].items():
                row[attack] = f"{score['bit_accuracy']:.2f}/{int(score['exact'])}"
            out.append(row)
    return out


def main() -> None:
    from common import print_table, write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small clips only, no baselines")
    args = parser.parse_args()
    start = time.perf_counter()
    report = evaluate_watermark(quick=args.quick, baselines=not args.quick)
    report["seconds"] = round(time.perf_counter() - start, 1)
    print_table("Watermark robustness: bit accuracy / exact payload (1 = recovered)", _summary_rows(report))
    fp = report["false_positives"]
    print(f"false positives on unwatermarked clips: {fp['detections']} / {fp['trials']}")
    if not args.quick:
        print(f"wrote {write_result('guardrails_watermark', report)}")


if __name__ == "__main__":
    main()
