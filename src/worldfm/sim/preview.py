"""Contact sheets of simulated episodes: RGB, depth and segmentation rows with captions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from worldfm.errors import ConfigError
from worldfm.sim.episode import Episode

MODALITIES = ("rgb", "depth", "seg")


def episode_rows(episode: Episode, modalities: Sequence[str] = MODALITIES) -> list[np.ndarray]:
    """Return one (T, H, W, 3) uint8 video per requested modality of `episode`."""
    from worldfm.video.visualize import colorize_depth, colorize_segmentation

    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise ConfigError(f"unknown modality {unknown[0]!r}; expected some of {list(MODALITIES)}")
    views = {
        "rgb": lambda: episode.frames,
        "depth": lambda: colorize_depth(episode.depth),
        "seg": lambda: colorize_segmentation(episode.segmentation),
    }
    return [views[m]() for m in modalities]


def episodes_contact_sheet(
    episodes: Sequence[Episode],
    out: str | os.PathLike[str],
    columns: int = 8,
    modalities: Sequence[str] = MODALITIES,
    caption_chars: int = 90,
) -> Path:
    """Write a PNG with, per episode, one row per modality, labelled with scenario and caption."""
    from worldfm.video.visualize import contact_sheet, save_image

    videos: list[np.ndarray] = []
    labels: list[str] = []
    for ep in episodes:
        for m, video in zip(modalities, episode_rows(ep, modalities), strict=True):
            videos.append(video)
            text = f"{ep.scenario} #{ep.seed} {m}"
            if m == modalities[0]:
                text += f": {ep.caption[:caption_chars]}"
            labels.append(text)
    return Path(save_image(out, contact_sheet(videos, columns=columns, labels=labels)))


def dataset_contact_sheet(
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    episodes: int = 4,
    columns: int = 8,
    modalities: Sequence[str] = MODALITIES,
) -> Path:
    """Write a contact sheet of the first `episodes` episodes of a worldfm dataset."""
    from worldfm.data import open_dataset

    ds = open_dataset(dataset)
    chosen = [ds[i] for i in range(min(episodes, len(ds)))]
    return episodes_contact_sheet(chosen, out, columns=columns, modalities=modalities)
