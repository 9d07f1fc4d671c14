"""The `make demo` job: simulate a small dataset of every scenario and write a contact sheet.

This is the platform's end-to-end smoke run on a laptop CPU; it grows as later parts land
(tokenizers, world models) and always runs on what the repository ships.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worldfm.sim.generate import generate_dataset
from worldfm.sim.registry import SCENARIOS


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
    return {"datasets": reports, "contact_sheet": str(sheet)}
