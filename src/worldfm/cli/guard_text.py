"""`worldfm guard text TEXT [--json]`: run the text pre-guard on a prompt.

Exit codes: 0 allowed, 3 blocked (including a check that could not run: fail closed), 1 on error.
"""

from __future__ import annotations

from pathlib import Path

import typer

from worldfm.cli.common import console, handle_errors, print_json

BLOCKED_EXIT = 3


def register(app: typer.Typer) -> None:
    """Add this module's command to the `worldfm guard` group."""

    @app.command("text")
    @handle_errors
    def text(
        prompt: str = typer.Argument(..., help="The prompt to check (quote it)."),
        classifier: Path | None = typer.Option(
            None, "--classifier", help="Classifier folder (default: the shipped guard-text-nano)."
        ),
        no_classifier: bool = typer.Option(False, "--no-classifier", help="Blocklist only (faster, weaker)."),
        as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
    ) -> None:
        """Check a prompt: normalise, blocklist, classifier. ALLOWED (exit 0) or BLOCKED (exit 3)."""
        from worldfm.errors import ConfigError
        from worldfm.guardrails.text import PromptGuard, PromptGuardConfig

        if no_classifier and classifier is not None:
            raise ConfigError("--classifier and --no-classifier exclude each other")
        if classifier is None and not no_classifier:
            guard = PromptGuard.default()
        else:
            guard = PromptGuard(
                PromptGuardConfig(
                    classifier=not no_classifier,
                    classifier_path=None if classifier is None else str(classifier),
                )
            )
        decision = guard.check(prompt)
        if as_json:
            print_json(decision.to_dict())
        elif decision.allowed:
            console.print("[bold green]ALLOWED[/]", highlight=False)
        else:
            console.print("[bold red]BLOCKED[/]", highlight=False)
            for reason in decision.reasons:
                console.print(f"  - {reason}", highlight=False, markup=False, soft_wrap=True)
        if not decision.allowed:
            raise typer.Exit(BLOCKED_EXIT)
