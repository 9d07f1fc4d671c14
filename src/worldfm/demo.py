"""The `make demo` job: simulate a small dataset of every scenario, write a contact sheet, and pass
the episodes through the shipped nano video tokenizer (encode -> latents -> decode).

This is the platform's end-to-end smoke run on a laptop CPU; it grows as later parts land
(tokenizers, world models) and always runs on what the repository ships.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from worldfm.sim.generate import generate_dataset
from worldfm.sim.registry import SCENARIOS

DEMO_TOKENIZER = "cv4x8x8-nano"  # shipped in worldfm/hub/weights


def run_demo(
    out: str | os.PathLike[str],
    episodes: int = 2,
    frames: int = 24,
    size: int = 64,
    seed: int = 0,
    workers: int = 2,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Generate `episodes` episodes per scenario under `out/<scenario>` and `out/contact_sheet.png`.

    Returns a summary dict with the generation reports and the contact sheet path.
    """
    from worldfm.data import open_dataset
    from worldfm.sim.preview import episodes_contact_sheet

    out = Path(out)
    reports = []
    shown = []
    for scenario in sorted(SCENARIOS):
        report = generate_dataset(
            scenario, out / scenario, episodes, frames, size, seed, workers=workers, overwrite=True
        )
        log(f"{scenario:8s} {episodes} episodes x {frames} frames in {report.seconds:5.1f} s -> {report.out}")
        reports.append(report.to_json())
        dataset = open_dataset(out / scenario)
        shown.extend(dataset[i] for i in range(min(2, len(dataset))))
    sheet = episodes_contact_sheet(shown, out / "contact_sheet.png")
    for episode in shown:
        log(f"  {episode.scenario}: {episode.caption}")
    log(f"contact sheet: {sheet}")
    tokenizer = tokenizer_roundtrip(shown, out / "tokenizer_roundtrip.mp4", log=log)
    return {"datasets": reports, "contact_sheet": str(sheet), "tokenizer": tokenizer}


def tokenizer_roundtrip(
    episodes: list[Any],
    out: Path,
    model: str = DEMO_TOKENIZER,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Encode and decode each episode with the shipped tokenizer `model`; write originals and
    reconstructions side by side (one episode after another) to the mp4 `out`.

    Returns the model name, the mean PSNR/SSIM over episodes, the compression ratio and the video path.
    """
    from worldfm.tokenizers import Tokenizer
    from worldfm.tokenizers.api import roundtrip_metrics
    from worldfm.video.io import write_video

    tokenizer = Tokenizer.from_pretrained(model)
    scores, panels = [], []
    for episode in episodes:
        encoded = tokenizer.encode(episode.frames, fps=episode.fps)
        decoded = tokenizer.decode(encoded)
        scores.append(roundtrip_metrics(episode.frames, decoded, encoded))
        panels.append(np.concatenate([episode.frames, decoded], axis=2))  # (T, H, 2W, 3)
    write_video(out, np.concatenate(panels), fps=episodes[0].fps)
    summary = {
        "model": model,
        "psnr": float(np.mean([s["psnr"] for s in scores])),
        "ssim": float(np.mean([s["ssim"] for s in scores if s["ssim"] is not None] or [np.nan])),
        "compression_ratio": scores[0]["compression_ratio"],
        "video": str(out),
    }
    log(
        f"tokenizer {model}: {summary['compression_ratio']:.0f}x compression, PSNR {summary['psnr']:.1f} dB, "
        f"SSIM {summary['ssim']:.3f} on {len(episodes)} episodes (original | reconstruction): {out}"
    )
    return summary
