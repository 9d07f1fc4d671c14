"""Helpers every CLI command uses: error handling, JSON output, the shared console."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from worldfm.errors import GuardrailBlocked, WorldfmError

EXIT_BLOCKED = 3  # a guardrail refused the input (the CLI's documented exit code for "blocked")

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn user-fixable errors into `error: ...` on stderr and exit code 1 (3 when a guardrail
    blocked the request), never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GuardrailBlocked as exc:
            err_console.print(f"[bold red]blocked:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_BLOCKED) from None
        except WorldfmError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """Write `data` as indented JSON to stdout (plain, no colour codes, so scripts can parse it)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()
