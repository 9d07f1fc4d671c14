"""Entry point of the `worldfm` console script."""

from __future__ import annotations

from pathlib import Path

import typer

from worldfm import __version__

app = typer.Typer(
    name="worldfm",
    help="worldfm: physical-AI world foundation models on a laptop CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"worldfm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """worldfm: physical-AI world foundation models on a laptop CPU."""


@app.command()
def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", help="Folder for the demo datasets and images."),
    episodes: int = typer.Option(2, "--episodes", min=1, help="Episodes per scenario."),
    workers: int = typer.Option(2, "--workers", min=1, help="Worker processes."),
) -> None:
    """Run the end-to-end demo on the shipped parts: simulate every scenario and write a contact sheet."""
    from worldfm.cli.common import handle_errors
    from worldfm.demo import run_demo

    handle_errors(run_demo)(out, episodes=episodes, workers=workers)


def _register() -> None:
    # Command groups register themselves here; each module defines `app` (a typer.Typer) or `register(app)`.
    from worldfm.cli import curate, data, doctor, guard, predict, sim, tokenize, train, video, watermark

    doctor.register(app)
    app.add_typer(sim.app, name="sim", help="Simulate physics episodes and write datasets.")
    app.add_typer(data.app, name="data", help="Inspect datasets.")
    app.add_typer(video.app, name="video", help="Inspect video files.")
    app.add_typer(train.app, name="train", help="Train models from YAML recipes (also under torchrun).")
    app.add_typer(tokenize.app, name="tokenize", help="Encode and decode videos with the video tokenizers.")
    app.add_typer(
        predict.app, name="predict", help="Generate the future as video with the diffusion world model."
    )
    app.add_typer(curate.app, name="curate", help="Curate raw videos into training shards (local or Ray).")
    app.add_typer(guard.app, name="guard", help="Guardrails: prompt pre-guard, video post-guard, verify.")
    app.add_typer(watermark.app, name="watermark", help="Embed and detect the invisible video watermark.")


_register()

if __name__ == "__main__":
    app()
