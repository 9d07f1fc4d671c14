"""`worldfm guard ...`: run the guardrails on a prompt or a video, verify a generated file.

Each command lives in its own module (guard_text, guard_video, guard_verify) and registers itself here.
"""

from __future__ import annotations

import typer

from worldfm.cli import guard_text, guard_verify, guard_video

app = typer.Typer(no_args_is_help=True, help="Guardrails: prompt pre-guard, video post-guard, verification.")
for _module in (guard_text, guard_video, guard_verify):
    _module.register(app)
