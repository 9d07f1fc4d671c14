"""`worldfm watermark embed / detect` (being written this session)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Embed and detect the invisible video watermark.")
