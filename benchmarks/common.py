"""Shared helpers for benchmarks: result files and tables."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    import torch

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d"),
    }


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write benchmarks/results/<name>.json atomically and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    with tempfile.NamedTemporaryFile("w", dir=RESULTS, delete=False, suffix=".tmp") as tmp:
        json.dump({"benchmark": name, "machine": machine(), **payload}, tmp, indent=2)
    os.replace(tmp.name, path)
    return path


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values()))
    # Logs are files: rich would cut the table to 80 columns there and elide the figures.
    Console(width=None if sys.stdout.isatty() else 240).print(table)
