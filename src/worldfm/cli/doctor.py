"""`worldfm doctor`: what is installed, what works, and how to fix what does not."""

from __future__ import annotations

import typer
from rich.table import Table

from worldfm.cli.common import console, handle_errors, print_json


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def doctor(
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        no_render: bool = typer.Option(False, "--no-render", help="Skip the offscreen rendering test."),
    ) -> None:
        """Check torch, video codecs, the render backend and optional extras. Exit 1 if something is missing."""
        from worldfm.doctor import collect

        report = collect(render=not no_render)
        if as_json:
            print_json(report)
        else:
            table = Table(title=f"worldfm {report['worldfm']} on Python {report['python']}")
            for column in ("check", "status", "detail", "fix"):
                table.add_column(column)
            for c in report["checks"]:
                status = "[green]ok[/]" if c["ok"] else "[red]missing[/]"
                table.add_row(c["name"], status, c["detail"], c["fix"])
            console.print(table)
        if not report["ok"]:
            raise typer.Exit(1)
