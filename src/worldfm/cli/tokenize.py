"""`worldfm tokenize ...`: encode videos to tokenizer latents, decode them back, measure round trips,
swap a retrained decoder into a world model pipeline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from worldfm.cli.common import console, err_console, handle_errors, print_json

app = typer.Typer(no_args_is_help=True)

MODEL_HELP = "Tokenizer tier (e.g. cv4x8x8-nano, dv4x8x8-nano) or a saved model folder."
TILE_HELP = "Spatial tile side in pixels (multiple of the spatial factor); larger frames are tiled."
OVERLAP_HELP = "Overlap between tiles in pixels (multiple of the spatial factor)."
CHUNK_HELP = "Frames per independent temporal chunk, 1 + k*temporal_factor (default 1 + 8*temporal_factor)."


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a callback (done, total)."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=quiet) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _check_model(model: str) -> None:
    """Fail fast (before reading video or importing torch) on a name that is neither a folder nor a tier."""
    from worldfm.tokenizers.pretrained import resolve_model_path

    resolve_model_path(model)


def _tokenizer(model: str, tile: int, overlap: int, chunk_frames: int | None, batch_size: int) -> Any:
    from worldfm.tokenizers import TilingConfig, Tokenizer

    return Tokenizer.from_pretrained(model, TilingConfig(tile, overlap, chunk_frames, batch_size))


def _read(path: Path) -> tuple[Any, float]:
    from worldfm.video.io import probe_video, read_video

    info = probe_video(path)
    return read_video(path), info.fps


def _check_out(path: Path, suffix: str) -> None:
    from worldfm.errors import ConfigError

    if path.suffix.lower() != suffix:
        raise ConfigError(f"--out {path}: expected a {suffix} file")


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


@app.command()
@handle_errors
def encode(
    input: Path = typer.Argument(..., help="Input video (mp4, webm, mkv, ...)."),
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    out: Path = typer.Option(..., "--out", help="Output latents file (.safetensors)."),
    tile: int = typer.Option(128, "--tile", help=TILE_HELP),
    overlap: int = typer.Option(32, "--overlap", help=OVERLAP_HELP),
    chunk_frames: int | None = typer.Option(None, "--chunk-frames", help=CHUNK_HELP),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Tiles per forward pass."),
    dtype: str = typer.Option(
        "float32", "--dtype", help="Storage of CV latents: float32, float16 or bfloat16."
    ),
    compress: bool = typer.Option(
        False,
        "--compress",
        help="DV: store the token ids entropy-coded (lossless, typically 2-5x smaller; format version 2).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Encode a video to latents (CV) or token ids (DV) in a .safetensors file with all decode metadata."""
    _check_out(out, ".safetensors")
    _check_model(model)
    tok = _tokenizer(model, tile, overlap, chunk_frames, batch_size)
    frames, fps = _read(input)
    start = time.perf_counter()
    with _progress("encoding chunks", as_json) as progress:
        encoded = tok.encode(frames, fps=fps, progress=progress)
    seconds = time.perf_counter() - start
    encoded.save(out, latent_dtype=dtype, compress=compress)
    tokens = encoded.latents if encoded.latents is not None else encoded.indices
    coded_bpp = encoded.coded_bits_per_pixel()
    report = {
        "input": str(input),
        "out": str(out),
        "model": encoded.model,
        "kind": encoded.kind,
        "frames": encoded.num_frames,
        "height": encoded.height,
        "width": encoded.width,
        "fps": encoded.fps,
        "latent_shape": list(tokens.shape),
        "compression_ratio": _round(encoded.compression_ratio),
        "bits_per_pixel": _round(encoded.bits_per_pixel),
        "coded_bits_per_pixel": _round(coded_bpp),
        "compressed": bool(compress and coded_bpp is not None),
        "file_bytes": out.stat().st_size,
        "encode_fps": _round(encoded.num_frames / seconds, 1),
    }
    if as_json:
        print_json(report)
    else:
        console.print(
            f"wrote {out}: {encoded.kind} {tuple(tokens.shape)} from {encoded.num_frames} frames of "
            f"{encoded.width}x{encoded.height}, compression {encoded.compression_ratio:.1f}x"
            + (f", {encoded.bits_per_pixel:.4f} bits/pixel" if encoded.bits_per_pixel is not None else "")
            + (f" ({coded_bpp:.4f} entropy-coded)" if coded_bpp is not None else ""),
            highlight=False,
        )


@app.command()
@handle_errors
def decode(
    file: Path = typer.Argument(..., help="Latents file written by `worldfm tokenize encode`."),
    out: Path = typer.Option(..., "--out", help="Output video (.mp4, .webm or .mkv)."),
    model: str | None = typer.Option(
        None, "--model", help="Override the model recorded in the file. " + MODEL_HELP
    ),
    fps: float | None = typer.Option(None, "--fps", help="Override the frame rate recorded in the file."),
    tile: int = typer.Option(128, "--tile", help=TILE_HELP),
    overlap: int = typer.Option(32, "--overlap", help=OVERLAP_HELP),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Tiles per forward pass."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Decode a latents file back to a video of the original size, frame count and fps."""
    from worldfm.errors import ConfigError
    from worldfm.tokenizers import EncodedVideo
    from worldfm.video.io import write_video

    encoded = EncodedVideo.load(file)
    rate = encoded.fps if fps is None else fps
    if not rate > 0:
        raise ConfigError(f"{file} records no frame rate; pass --fps")
    tok = _tokenizer(model or encoded.model, tile, overlap, encoded.chunk_frames, batch_size)
    start = time.perf_counter()
    with _progress("decoding chunks", as_json) as progress:
        frames = tok.decode(encoded, progress=progress)
    seconds = time.perf_counter() - start
    write_video(out, frames, fps=rate)
    report = {
        "input": str(file),
        "out": str(out),
        "model": model or encoded.model,
        "frames": int(frames.shape[0]),
        "height": int(frames.shape[1]),
        "width": int(frames.shape[2]),
        "fps": rate,
        "decode_fps": _round(frames.shape[0] / seconds, 1),
    }
    if as_json:
        print_json(report)
    else:
        console.print(
            f"wrote {out}: {frames.shape[0]} frames of {frames.shape[2]}x{frames.shape[1]} at {rate:g} fps",
            highlight=False,
        )


@app.command()
@handle_errors
def roundtrip(
    input: Path = typer.Argument(..., help="Input video (mp4, webm, mkv, ...)."),
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    out: Path = typer.Option(..., "--out", help="Output video of the reconstruction (.mp4, .webm or .mkv)."),
    tile: int = typer.Option(128, "--tile", help=TILE_HELP),
    overlap: int = typer.Option(32, "--overlap", help=OVERLAP_HELP),
    chunk_frames: int | None = typer.Option(None, "--chunk-frames", help=CHUNK_HELP),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Tiles per forward pass."),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
) -> None:
    """Encode and decode a video; write the reconstruction and print PSNR, SSIM, compression and bits per pixel.

    Scores compare the decoded frames with the input frames before the output is re-encoded to video.
    Compression ratio: input values over latent values (CV) or input bits over token bits (DV).
    """
    _check_model(model)
    from worldfm.tokenizers.api import roundtrip_metrics
    from worldfm.video.io import write_video

    tok = _tokenizer(model, tile, overlap, chunk_frames, batch_size)
    frames, fps = _read(input)
    t0 = time.perf_counter()
    with _progress("encoding chunks", as_json) as progress:
        encoded = tok.encode(frames, fps=fps, progress=progress)
    t1 = time.perf_counter()
    with _progress("decoding chunks", as_json) as progress:
        decoded = tok.decode(encoded, progress=progress)
    t2 = time.perf_counter()
    write_video(out, decoded, fps=fps)
    scores = roundtrip_metrics(frames, decoded, encoded)
    report = {
        **{k: _round(v) for k, v in scores.items()},
        "model": encoded.model,
        "kind": encoded.kind,
        "out": str(out),
        "frames": encoded.num_frames,
        "height": encoded.height,
        "width": encoded.width,
        "fps": fps,
        "encode_fps": _round(encoded.num_frames / (t1 - t0), 1),
        "decode_fps": _round(encoded.num_frames / (t2 - t1), 1),
    }
    if as_json:
        print_json(report)
        return
    bpp = scores["bits_per_pixel"]
    lines = [
        f"PSNR {scores['psnr']:.2f} dB" if scores["psnr"] is not None else "PSNR inf (identical)",
        f"SSIM {scores['ssim']:.4f}" if scores["ssim"] is not None else "SSIM n/a (frames under 11 px)",
        f"compression {scores['compression_ratio']:.1f}x",
    ]
    if bpp is not None:
        lines.append(f"{bpp:.4f} bits/pixel ({scores['coded_bits_per_pixel']:.4f} entropy-coded)")
    console.print(f"wrote {out}; " + ", ".join(lines), highlight=False)


@app.command("swap-decoder")
@handle_errors
def swap_decoder(
    pipeline: Path = typer.Argument(..., help="World model pipeline folder (e.g. runs/predict-nano/export)."),
    tokenizer: str = typer.Option(
        ..., "--tokenizer", help="Tokenizer folder or tier whose decoder replaces the pipeline's."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Give a world model pipeline a new tokenizer decoder trained over the same, frozen encoder.

    Refused (exit 1, the pipeline untouched) unless the new tokenizer encodes exactly as the
    pipeline's does; the world model then needs no retraining.
    """
    from worldfm.world.swap_decoder import swap_decoder as swap

    report = swap(pipeline, tokenizer)
    if as_json:
        print_json(report)
        return
    console.print(
        f"swapped the tokenizer decoder of {pipeline} for {tokenizer}'s: {report['decoder_parameters']:,} "
        f"decoder parameters (was {report['decoder_parameters_before']:,}), "
        f"decoder depth {report['decoder_depth']}; same encoder, same latents",
        highlight=False,
    )
