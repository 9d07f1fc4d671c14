"""`worldfm watermark embed / detect`: the invisible luma watermark on video files."""

from __future__ import annotations

from pathlib import Path

import typer

from worldfm.cli.common import console, handle_errors, print_json

app = typer.Typer(no_args_is_help=True, help="Embed and detect the invisible video watermark.")

KEY_HELP = "Optional private key mixed with the public default (detect needs the same key)."


@app.command()
@handle_errors
def embed(
    input: Path = typer.Argument(..., help="Input video (mp4, webm, mkv, ...)."),
    payload: str = typer.Option(
        ..., "--payload", help="6-byte payload as 12 hex digits: 16-bit model tag + 32-bit generation id."
    ),
    out: Path = typer.Option(..., "--out", help="Output video (written atomically, same fps)."),
    key: str | None = typer.Option(None, "--key", help=KEY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Embed the payload in the luma of every frame and write the watermarked video."""
    from worldfm.errors import VideoError
    from worldfm.guardrails.watermark import embed_watermark_file, payload_from_hex

    data = payload_from_hex(payload)  # bad hex or length fails before any video is read
    if not input.exists():
        raise VideoError(input, "file does not exist")
    embed_watermark_file(input, out, data, key=key)
    if as_json:
        print_json({"input": str(input), "out": str(out), "payload": data.hex()})
    else:
        console.print(f"wrote {out} with watermark payload {data.hex()}", highlight=False)


@app.command()
@handle_errors
def detect(
    input: Path = typer.Argument(..., help="Video to examine."),
    key: str | None = typer.Option(None, "--key", help=KEY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Look for the watermark; exit 0 whether or not it is found (non-zero only on errors)."""
    from worldfm.guardrails.watermark import detect_watermark_file

    result = detect_watermark_file(input, key=key)
    if as_json:
        print_json(result.to_dict())
    elif result.detected:
        console.print(
            f"watermark found: payload {result.payload} (confidence {result.confidence:.10f})",
            highlight=False,
        )
    else:
        console.print("no watermark found", highlight=False)
