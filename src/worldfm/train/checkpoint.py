"""Training checkpoints: atomic writes, discovery of the latest one, pruning, and RNG state capture.

A run folder holds `checkpoints/step-00000120.pt`, one file per saved step. Each file is written to a
hidden temporary name in the same folder, flushed to disk, then renamed over its final name, so a
crash or a full disk never leaves a half-written checkpoint under a `step-*.pt` name: the latest
complete checkpoint is always the one `latest_checkpoint` finds.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import random
import re
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldfm.errors import WorldfmError

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step-(\d{8,})\.pt$")


def checkpoint_path(run_dir: str | os.PathLike[str], step: int) -> Path:
    """`run_dir/checkpoints/step-<step, 8 digits>.pt` for `step`."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step-{int(step):08d}.pt"


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run as (step, path), oldest first (temporary files are ignored)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        m = _NAME.match(path.name)
        if m and path.is_file():
            found.append((int(m.group(1)), path))
    return sorted(found)


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """Path of the checkpoint with the highest step, or None when the run has none."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_checkpoint(state: dict[str, Any], run_dir: str | os.PathLike[str], step: int, keep: int = 2) -> Path:
    """Write `state` atomically as the checkpoint of `step`; keep the newest `keep` (>= 1) checkpoints."""
    path = checkpoint_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    for _, old in list_checkpoints(run_dir)[: -max(1, int(keep))]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (onto the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise WorldfmError(f"{path}: checkpoint file does not exist")
    try:
        # Our own files hold numpy RNG state and plain Python objects, so full unpickling is needed.
        return torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
        raise WorldfmError(f"{path}: cannot read checkpoint ({exc})") from exc


def capture_rng_state() -> dict[str, Any]:
    """States of every random generator training touches: Python, numpy, torch CPU and CUDA."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what `capture_rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
