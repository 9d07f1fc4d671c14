"""`worldfm curate run INPUT --out DIR` and `worldfm curate report DIR`: the curation pipeline.

`run` curates a folder, glob, list file, LeRobot or worldfm dataset into DIR (see
`worldfm.curate.pipeline`): per-video stages on the local process pool or on Ray, then dedup and
shard, then DIR/summary.json and DIR/report.html. It exits 0 when the run finished, even if some
videos were quarantined (they are listed in the summary), and 1 on an error (missing input, bad
config, unreachable Ray cluster). Restarting the same command resumes: finished videos are reused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from worldfm.cli.common import console, err_console, handle_errors, print_json

app = typer.Typer(no_args_is_help=True)

DEFAULT_CONFIG = Path("configs/curate/default.yaml")
SHOW_FILTERED = 20  # filtered clips listed in the text summary (all are in summary.json)


def default_config() -> Path:
    """configs/curate/default.yaml under the current folder, else the one of this source checkout."""
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    checkout = Path(__file__).resolve().parents[3] / DEFAULT_CONFIG  # src/worldfm/cli -> repo root
    if checkout.is_file():
        return checkout
    from worldfm.errors import ConfigError

    raise ConfigError(f"{DEFAULT_CONFIG} not found here; pass --config with a curation config YAML")


@app.command()
@handle_errors
def run(
    input: str = typer.Argument(
        ..., help="Videos to curate: a folder, a glob, a .txt list, a video, or a LeRobot/worldfm dataset."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (dataset/, summary.json, report.html)."),
    config: Path | None = typer.Option(
        None, "--config", help="Curation config YAML (default: configs/curate/default.yaml)."
    ),
    executor: str = typer.Option("local", "--executor", help="Where per-video stages run: local or ray."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Join this Ray cluster (e.g. auto, host:6379); default: a local instance."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes / Ray actors (default: the config's)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Curate videos into training shards: split, transcode, filter, caption, embed, dedup, shard."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from worldfm.curate.executors import EXECUTORS
    from worldfm.curate.pipeline import load_curate_config, run_curation
    from worldfm.errors import ConfigError, UnknownNameError

    # Refuse bad arguments before the progress bar draws, so the error is the only output.
    if executor not in EXECUTORS:
        raise UnknownNameError("executor", executor, list(EXECUTORS))
    if ray_address is not None and executor != "ray":
        raise ConfigError(f"--ray-address {ray_address!r} needs --executor ray (got {executor!r})")
    cfg = load_curate_config(config if config is not None else default_config())
    cfg.build()  # unknown stages, bad parameters and a bad stage order fail here
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        bar = progress.add_task("videos", total=None)

        def on_video(done: int, total: int, task: Any) -> None:
            progress.update(bar, completed=done, total=total)

        summary = run_curation(
            input,
            out,
            cfg,
            executor=executor,
            workers=workers,
            ray_address=ray_address,
            progress=on_video,
        )
    if as_json:
        print_json(summary)
    else:
        print_summary(summary, out)


@app.command()
@handle_errors
def report(
    run_dir: Path = typer.Argument(..., help="Output folder of a `worldfm curate run`."),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Show the summary of a finished curation run."""
    from worldfm.curate.pipeline import read_summary

    summary = read_summary(run_dir)
    if as_json:
        print_json(summary)
    else:
        print_summary(summary, run_dir)


def print_summary(summary: dict[str, Any], out: Path) -> None:
    """The run summary as tables: videos, clips per stage, quarantined videos, corpus stages."""
    from rich.table import Table

    v, c = summary["videos"], summary["clips"]
    seconds = summary["seconds"]
    table = Table(title=f"curation run in {out}", show_header=True, title_justify="left")
    table.add_column("")
    table.add_column("count", justify="right")
    for key in ("total", "processed", "reused", "quarantined", "dropped"):
        table.add_row(f"videos {key}", str(v[key]))
    table.add_row("clips found", str(c["found"]))
    for stage, n in c["dropped_by_stage"].items():
        table.add_row(f"clips dropped by {stage}", str(n))
    table.add_row("clips kept", str(c["kept"]))
    console.print(table)
    shard = summary["corpus_stages"].get("shard")
    if shard is not None and shard.get("path"):
        console.print(
            f"dataset: {shard['path']} ({shard['clips']} clips in {shard['shards']} shards)", highlight=False
        )
    console.print(
        f"{summary['executor']} executor, {summary['workers']} workers: {seconds['wall']} s wall, "
        f"{summary['input_video_seconds']} s of video ({summary['realtime_factor']}x real time)",
        highlight=False,
    )
    if summary["quarantined"]:
        bad = Table(title="quarantined videos", title_justify="left")
        for name in ("source", "stage", "error"):
            bad.add_column(name, overflow="fold")
        for q in summary["quarantined"]:
            bad.add_row(q["source"], q["stage"], q["error"])
        console.print(bad)
    if summary["filtered"]:
        filtered = Table(title="filtered clips", title_justify="left")
        filtered.add_column("clip", overflow="fold")
        filtered.add_column("reason", overflow="fold")
        for f in summary["filtered"][:SHOW_FILTERED]:
            filtered.add_row(f["clip_id"], f["reason"])
        console.print(filtered)
        more = len(summary["filtered"]) - SHOW_FILTERED
        if more > 0:
            console.print(f"... and {more} more (all in {out}/summary.json and report.html)", highlight=False)
