"""Entry point of the `worldfm` console script."""

from __future__ import annotations

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


def _register() -> None:
    # Command groups register themselves here; each module defines `app` (a typer.Typer) or `register(app)`.
    from worldfm.cli import data, doctor, sim, video

    doctor.register(app)
    app.add_typer(sim.app, name="sim", help="Simulate physics episodes and write datasets.")
    app.add_typer(data.app, name="data", help="Inspect datasets.")
    app.add_typer(video.app, name="video", help="Inspect and convert video files.")


_register()

if __name__ == "__main__":
    app()
