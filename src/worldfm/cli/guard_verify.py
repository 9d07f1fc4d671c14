"""Registration hook of one `worldfm guard` command (being written this session)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command to the `worldfm guard` group."""
