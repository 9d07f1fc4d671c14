"""`worldfm guard verify FILE [--json]`: check a generated video's C2PA manifest and watermark.

Exit 0: verified (valid manifest, watermark found, payloads agree); 4: not verified (the reasons
are printed); 1: the file is missing or unreadable.
"""

from __future__ import annotations

from pathlib import Path

import typer

from worldfm.cli.common import console, handle_errors, print_json

EXIT_NOT_VERIFIED = 4


def register(app: typer.Typer) -> None:
    """Add `verify` to the `worldfm guard` group."""

    @app.command()
    @handle_errors
    def verify(
        file: Path = typer.Argument(..., help="A video worldfm generated (.mp4 carries the manifest)."),
        key: str | None = typer.Option(None, "--key", help="Private watermark key, if one was used."),
        as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    ) -> None:
        """Verify the C2PA manifest and the invisible watermark of a generated video."""
        from worldfm.guardrails.verify import verify_file

        report = verify_file(file, key=key)
        if as_json:
            print_json(report.to_dict())
        else:
            m, w = report.manifest, report.watermark
            gen = m.get("generation") or {}
            console.print(
                f"{'VERIFIED' if report.verified else 'NOT VERIFIED'}: {file}", highlight=False, style="bold"
            )
            if m.get("present"):
                console.print(
                    f"  manifest: {'valid' if m['valid'] else 'INVALID'}, "
                    f"{'trusted' if m['trusted'] else 'untrusted (self-signed)'} signer, "
                    f"model {gen.get('model_name')} {gen.get('model_version')}, mode {gen.get('mode')}, "
                    f"guardrails {'on' if gen.get('guardrails_enabled') else 'OFF'}",
                    highlight=False,
                )
            if w.get("detected"):
                fields = w.get("payload_fields", {})
                console.print(
                    f"  watermark: payload {w['payload']} ({', '.join(f'{k} {v}' for k, v in fields.items())}), "
                    f"confidence {w['confidence']:.9f}",
                    highlight=False,
                )
            for problem in report.problems:
                console.print(f"  - {problem}", highlight=False)
        if not report.verified:
            raise typer.Exit(EXIT_NOT_VERIFIED)
