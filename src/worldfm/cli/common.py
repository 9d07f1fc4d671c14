"""Helpers every CLI command uses: error handling, JSON output, the shared console."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
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


def read_actions_file(path: Path) -> Any:
    """Actions from a JSON file for `--actions`: a list of rows of numbers, or an object whose
    "actions" key holds one (as `worldfm sim episode --actions-out` writes). Returns a float64
    array `(rows, action_dim)`; `ConfigError` naming the file otherwise. The row count and value
    range are checked by whoever uses them (they depend on the frame count and the model)."""
    import numpy as np

    from worldfm.errors import ConfigError

    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--actions {path}: file does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--actions {path}: not a readable JSON file ({exc})") from None
    if isinstance(data, dict):
        if "actions" not in data:
            raise ConfigError(f"--actions {path}: a JSON object must have an 'actions' key")
        data = data["actions"]
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"--actions {path}: expected a list of rows of numbers") from None
    if arr.ndim != 2:
        raise ConfigError(
            f"--actions {path}: expected a list of rows of numbers (frames - 1 rows), got shape {arr.shape}"
        )
    return arr
