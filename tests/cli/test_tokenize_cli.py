"""`worldfm tokenize encode|decode|roundtrip` on real mp4 files with a tiny saved model."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from worldfm.cli import tokenize
from worldfm.tokenizers import EncodedVideo, TokenizerConfig, VideoTokenizer
from worldfm.train.recipes.run import warm_start
from worldfm.train.recipes.tokenizer import added_blocks
from worldfm.video.io import probe_video, read_video, write_video

runner = CliRunner()
root = typer.Typer()
root.add_typer(tokenize.app, name="tokenize")  # mounted as cli/main.py does
WORLDFM = Path(sys.executable).with_name("worldfm")
TINY = dict(widths=(8, 16), depth=1, patch_spatial=4, patch_temporal=4)


def _save_tiny(folder: Path, kind: str) -> Path:
    torch.manual_seed(0)
    if kind == "discrete":
        config = TokenizerConfig(kind="discrete", latent_channels=None, fsq_levels=(8, 5, 5), **TINY)
    else:
        config = TokenizerConfig(kind="continuous", latent_channels=4, **TINY)
    return VideoTokenizer(config).save_pretrained(folder / kind)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {kind: _save_tiny(folder, kind) for kind in ("continuous", "discrete")}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real H.264 mp4: 11 frames of 26x18 (not multiples of 8, not 1 + k*4) at 15 fps."""
    t = np.linspace(0, 1, 11)[:, None, None, None]
    y = np.linspace(0, 1, 18)[None, :, None, None]
    x = np.linspace(0, 1, 26)[None, None, :, None]
    frames = (127 + 100 * np.sin(5 * x + 3 * y + 2 * t + np.arange(3))).astype(np.uint8)
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, fps=15)


@pytest.mark.parametrize("kind", ["continuous", "discrete"])
def test_roundtrip_json(models: dict[str, Path], clip: Path, tmp_path: Path, kind: str) -> None:
    out = tmp_path / "rt.mp4"
    result = runner.invoke(
        root, ["tokenize", "roundtrip", str(clip), "--model", str(models[kind]), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"psnr", "ssim", "compression_ratio", "bits_per_pixel", "coded_bits_per_pixel"} <= set(report)
    assert isinstance(report["psnr"], float) and 0 < report["psnr"] < 100
    assert -1 <= report["ssim"] <= 1 and report["compression_ratio"] > 1
    assert (report["bits_per_pixel"] is None) == (kind == "continuous")
    assert (report["coded_bits_per_pixel"] is None) == (kind == "continuous")
    info = probe_video(out)
    assert (info.width, info.height, info.num_frames, info.fps) == (26, 18, 11, 15.0)


def test_roundtrip_text(models: dict[str, Path], clip: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        root,
        [
            "tokenize",
            "roundtrip",
            str(clip),
            "--model",
            str(models["discrete"]),
            "--out",
            str(tmp_path / "o.mp4"),
        ],
    )
    assert result.exit_code == 0, result.output
    for text in ("PSNR", "dB", "SSIM", "compression", "bits/pixel"):
        assert text in result.stdout


@pytest.mark.parametrize("kind", ["continuous", "discrete"])
def test_encode_then_decode_needs_no_flags(
    models: dict[str, Path], clip: Path, tmp_path: Path, kind: str
) -> None:
    latents = tmp_path / "clip.safetensors"
    result = runner.invoke(
        root, ["tokenize", "encode", str(clip), "--model", str(models[kind]), "--out", str(latents), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["frames"] == 11 and summary["kind"] == kind
    encoded = EncodedVideo.load(latents)
    assert (encoded.num_frames, encoded.height, encoded.width, encoded.fps) == (11, 18, 26, 15.0)
    assert encoded.model == str(models[kind].resolve())

    out = tmp_path / "decoded.mp4"
    result = runner.invoke(root, ["tokenize", "decode", str(latents), "--out", str(out)])
    assert result.exit_code == 0, result.output
    info = probe_video(out)
    assert (info.width, info.height, info.num_frames, info.fps) == (26, 18, 11, 15.0)
    # Decoding the file reproduces what the round trip produces (before H.264 on both sides).
    roundtrip = tmp_path / "rt.mp4"
    runner.invoke(
        root, ["tokenize", "roundtrip", str(clip), "--model", str(models[kind]), "--out", str(roundtrip)]
    )
    # The file decodes to exactly the frames of an in-process round trip, and so the two CLI outputs
    # agree (H.264 repeats exactly: see worldfm.video.io._x264_deterministic).
    from worldfm.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(models[kind])
    exact = tok.decode(EncodedVideo.load(latents))
    assert np.array_equal(exact, tok.decode(tok.encode(read_video(clip), fps=15.0)))
    assert np.abs(read_video(out).astype(int) - read_video(roundtrip).astype(int)).max() <= 2


def test_encode_compress_stores_entropy_coded_tokens_that_decode_the_same(
    models: dict[str, Path], clip: Path, tmp_path: Path
) -> None:
    outputs = {}
    for name, flags in (("raw", []), ("packed", ["--compress"])):
        latents = tmp_path / f"{name}.safetensors"
        args = ["tokenize", "encode", str(clip), "--model", str(models["discrete"]), "--out", str(latents)]
        result = runner.invoke(root, [*args, "--json", *flags])
        assert result.exit_code == 0, result.output
        outputs[name] = (latents, json.loads(result.stdout))
    (raw, raw_report), (packed, packed_report) = outputs["raw"], outputs["packed"]
    assert (raw_report["compressed"], packed_report["compressed"]) == (False, True)
    assert packed_report["file_bytes"] == packed.stat().st_size
    assert packed_report["coded_bits_per_pixel"] == raw_report["coded_bits_per_pixel"]
    assert torch.equal(EncodedVideo.load(packed).indices, EncodedVideo.load(raw).indices)
    decoded = tmp_path / "packed.mp4"
    assert runner.invoke(root, ["tokenize", "decode", str(packed), "--out", str(decoded)]).exit_code == 0
    assert probe_video(decoded).num_frames == 11
    text = runner.invoke(
        root, ["tokenize", "encode", str(clip), "--model", str(models["discrete"]), "--out", str(raw)]
    )
    assert "entropy-coded" in text.output


def _error(result: object) -> str:
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert result.exception is None or isinstance(result.exception, SystemExit)  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return result.output  # type: ignore[attr-defined]


def test_errors(models: dict[str, Path], clip: Path, tmp_path: Path) -> None:
    model = str(models["continuous"])
    out = str(tmp_path / "x.safetensors")
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"not a video\n" * 40)
    corrupt_latents = tmp_path / "corrupt.safetensors"
    corrupt_latents.write_bytes(b"\x00" * 64)
    cases = [
        (["encode", str(tmp_path / "missing.mp4"), "--model", model, "--out", out], "file does not exist"),
        (["encode", str(bad), "--model", model, "--out", out], "not a readable video"),
        (["encode", str(clip), "--model", "cv99-nano", "--out", out], "unknown tokenizer 'cv99-nano'"),
        (["encode", str(clip), "--model", "cv4x8x8-super", "--out", out], "not shipped"),
        (
            ["encode", str(clip), "--model", model, "--out", str(tmp_path / "x.npz")],
            "expected a .safetensors file",
        ),
        (["encode", str(clip), "--model", model, "--out", out, "--tile", "12"], "tile must be"),
        (["decode", str(corrupt_latents), "--out", str(tmp_path / "d.mp4")], "not a readable latents file"),
        (["decode", str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "d.mp4")], "does not exist"),
        (["roundtrip", str(bad), "--model", model, "--out", str(tmp_path / "r.mp4")], "not a readable video"),
    ]
    for args, message in cases:
        output = _error(runner.invoke(root, ["tokenize", *args]))
        assert message in " ".join(output.split()), (args, output)


def test_console_script_error_has_no_traceback(clip: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(WORLDFM),
            "tokenize",
            "roundtrip",
            str(clip),
            "--model",
            "nope-nano",
            "--out",
            str(tmp_path / "o.mp4"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "unknown tokenizer 'nope-nano'" in proc.stderr and "Traceback" not in proc.stderr


def test_swap_decoder(models: dict[str, Path], tmp_path: Path) -> None:
    """`tokenize swap-decoder PIPELINE --tokenizer DIR [--json]` on a minimal pipeline folder."""
    pipeline = tmp_path / "pipeline"
    pipeline.mkdir()
    (pipeline / "model_index.json").write_text("{}")
    old = VideoTokenizer.from_pretrained(models["continuous"])
    old.save_pretrained(pipeline / "tokenizer")
    grown = VideoTokenizer(old.config.replace(decoder_depth=2))
    warm_start(grown, old.state_dict(), "old", added_blocks(old.config, grown.config, "old"))
    grown.save_pretrained(tmp_path / "grown")
    result = runner.invoke(
        root, ["tokenize", "swap-decoder", str(pipeline), "--tokenizer", str(tmp_path / "grown"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"pipeline", "source", "decoder_depth", "decoder_parameters", "decoder_parameters_before"} <= set(
        report
    )
    assert VideoTokenizer.from_pretrained(pipeline / "tokenizer").config.blocks_per_decoder_level == 2
    # Another tokenizer's encoder is refused; the message keeps its brackets (no console markup).
    output = _error(
        runner.invoke(
            root, ["tokenize", "swap-decoder", str(pipeline), "--tokenizer", str(models["discrete"])]
        )
    )
    assert "model.freeze: [encoder]" in " ".join(output.split())
