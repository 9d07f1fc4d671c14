"""The shipped models on a CUDA GPU: world-model sampling speed and tokenizer throughput.

Run it where a GPU is (it exits with status 2 and says so otherwise; `--device cpu` runs the same
rows on the CPU for comparison or rehearsal):

    python benchmarks/bench_gpu.py                      # -> benchmarks/results/gpu.json

Rows (each the fastest of `--repeats` timed calls after one warm-up, with the device synchronised):

- every `--models` world model (tier name or pipeline folder), loaded with guardrails off (they run on
  the CPU and are timed in bench_guardrails.py), on a 64 px grey frame: Video2World from 1 frame to 17
  (16 generated frames), the same for `--futures` futures in one batch, Text2World of 17 frames, and
  for autoregressive models Video2World without the KV cache. Reported: seconds per call and
  generated frames per second (all futures counted).
- every `--tokenizers` tier (`VideoTokenizer`, fp32): a batch of `--batch` random clips of
  1 + 2 x temporal-factor frames at 64 px, encoded and decoded; frames per second each way.

Sampling settings are each pipeline's defaults (seed 0); the content of the frames does not change
the work done, so the timings hold for any input of that size.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, write_result

GENERATED = 16  # frames generated after the one condition frame (17 in all)


def best_seconds(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Fastest wall-clock time of `fn` over `repeats` calls after one warm-up call."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def world_rows(name: str, device: torch.device, futures: int, repeats: int) -> list[dict[str, Any]]:
    """Sampling speed of one world model (see the module docstring)."""
    from worldfm.world.load import load_world_pipeline

    pipe = load_world_pipeline(name, guardrail="off", watermark=False).to(device)
    family = "autoregressive" if type(pipe).__name__.startswith("AR") else "diffusion"
    size = pipe.transformer.config.resolution
    still = np.full((1, size, size, 3), 128, np.uint8)
    v2w: dict[str, Any] = dict(frames=1 + GENERATED, video=still, cond_frames=1)
    modes: list[tuple[str, dict[str, Any]]] = [
        ("video2world", v2w),
        (f"video2world x{futures} futures", {**v2w, "samples": futures}),
        ("text2world", dict(frames=1 + GENERATED, prompt="A red sphere rolls across the table.")),
    ]
    if family == "autoregressive":
        modes.insert(1, ("video2world no-cache", {**v2w, "use_cache": False}))
    rows = []
    for mode, kwargs in modes:
        seconds = best_seconds(lambda kw=kwargs: pipe.generate(seed=0, **kw), device, repeats)
        samples = int(kwargs.get("samples", 1))
        new = GENERATED if mode != "text2world" else 1 + GENERATED
        rows.append(
            {
                "model": str(name),
                "family": family,
                "mode": mode,
                "samples": samples,
                "seconds": seconds,
                "generated_frames_per_s": new * samples / seconds,
            }
        )
        print(f"  {name} {mode}: {seconds:.3f} s", flush=True)
    return rows


def tokenizer_row(name: str, device: torch.device, batch: int, repeats: int) -> dict[str, Any]:
    """Encode and decode throughput of one tokenizer tier on random 64 px clips."""
    from worldfm.tokenizers import VideoTokenizer

    tok = VideoTokenizer.from_pretrained(name).to(device).eval()
    frames = 1 + 2 * tok.config.temporal_factor
    gen = torch.Generator().manual_seed(0)
    video = (torch.rand(batch, 3, frames, 64, 64, generator=gen) * 2 - 1).to(device)
    with torch.no_grad():
        codes = tok.encode(video)
        enc = best_seconds(lambda: tok.encode(video), device, repeats)
        dec = best_seconds(lambda: tok.decode(codes), device, repeats)
    n = batch * frames
    print(f"  {name}: encode {n / enc:.0f} frames/s, decode {n / dec:.0f} frames/s", flush=True)
    return {
        "model": name,
        "clips": batch,
        "frames_per_clip": frames,
        "size": 64,
        "encode_frames_per_s": n / enc,
        "decode_frames_per_s": n / dec,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["ar-nano", "predict-nano"])
    parser.add_argument("--tokenizers", nargs="+", default=["cv4x8x8-nano", "dv4x8x8-nano", "cv8x16x16-nano"])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--futures", type=int, default=8, help="futures sampled in one batch")
    parser.add_argument("--batch", type=int, default=256, help="clips per tokenizer batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="gpu", help="result name under benchmarks/results")
    parser.add_argument("--note", default="", help="a remark stored with the result (e.g. how it was run)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "bench_gpu: no CUDA device here; run it on a GPU machine (or pass --device cpu)", file=sys.stderr
        )
        return 2
    device = torch.device(args.device)
    world = [row for name in args.models for row in world_rows(name, device, args.futures, args.repeats)]
    tokenizers = [tokenizer_row(name, device, args.batch, args.repeats) for name in args.tokenizers]
    print_table(f"World models on {device}", world)
    print_table(f"Tokenizers on {device}", tokenizers)
    path = write_result(
        args.out,
        {"device": str(device), "settings": vars(args), "world_models": world, "tokenizers": tokenizers},
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
