"""`worldfm video ...`: inspect video files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from worldfm.cli.common import console, handle_errors, print_json

app = typer.Typer(no_args_is_help=True)


@app.command()
@handle_errors
def info(
    file: Path = typer.Argument(..., help="Video file (mp4, webm, mkv, ...)."),
    as_json: bool = typer.Option(False, "--json", help="Print the probe as JSON."),
) -> None:
    """Show codec, size, frame rate, frame count and duration of a video file."""
    from worldfm.video.io import probe_video

    probe = probe_video(file)
    if as_json:
        print_json(probe.to_json())
        return
    table = Table(title=str(file), show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("container", probe.container),
        ("codec", probe.codec),
        ("size", f"{probe.width}x{probe.height} (width x height)"),
        ("fps", f"{probe.fps:g}"),
        ("frames", str(probe.num_frames)),
        ("duration", f"{probe.duration:.3f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
