"""`worldfm data ...`: inspect datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from worldfm.cli.common import console, handle_errors, print_json

app = typer.Typer(no_args_is_help=True)


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # unreachable; keeps type checkers happy


@app.command()
@handle_errors
def info(
    dataset: Path = typer.Argument(..., help="Dataset folder (written by `worldfm sim generate`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a dataset: episodes, frames, sizes, fps, scenarios, actions, shards, bytes, captions."""
    from worldfm.data import open_dataset

    summary = open_dataset(dataset).info()
    if as_json:
        print_json(summary)
        return
    fpe = summary["frames_per_episode"]
    frames = f"{summary['num_frames']} ({fpe['min']}" + (f"-{fpe['max']}" if fpe["max"] != fpe["min"] else "")
    rows = [
        ("episodes", str(summary["num_episodes"])),
        ("frames", frames + " per episode)"),
        (
            "frame size",
            ", ".join(f"{k} ({v} ep)" for k, v in summary["frame_sizes"].items()) + " (height x width)",
        ),
        ("fps", ", ".join(f"{f:g}" for f in summary["fps"])),
        ("scenarios", ", ".join(f"{k} ({v})" for k, v in summary["scenarios"].items())),
        (
            "actions",
            f"{summary['episodes_with_actions']} episodes, dims {summary['action_dims']}"
            if summary["episodes_with_actions"]
            else "none",
        ),
        ("shards", str(summary["num_shards"])),
        ("on disk", _bytes(summary["bytes_on_disk"])),
        ("created by", f"{summary['created_by']} at {summary['created_at']}"),
    ]
    table = Table(title=str(dataset), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in rows:
        table.add_row(name, value)
    for n, caption in enumerate(summary["example_captions"], start=1):
        table.add_row(f"caption {n}", caption)
    console.print(table)
