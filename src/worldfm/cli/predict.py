"""`worldfm predict ...`: generate the future of a scene as video with a world model: the diffusion
one (predict-* tiers) or the autoregressive one (ar-* tiers), chosen by `--model`.

    worldfm predict text2world --prompt "A red ball rolls across the table." --out ball.mp4
    worldfm predict video2world --input clip.mp4 --cond-frames 9 --frames 33 --out future.mp4 \\
        [--prompt TEXT] [--actions actions.json] [--samples 4 --seed 0]

`--frames` counts the conditioning frames, as Cosmos does; the output keeps the input's first
`--cond-frames` frames as they were given. With `--samples K > 1` every sample is written to its own
file, `OUT_seed<S>.mp4`, S = seed + i. Actions files hold `[[a, ...], ...]` (or `{"actions": ...}`):
frames - 1 rows of at most the model's action width.

Guardrails are on: the prompt is screened first (blocked: exit 3), faces in the output are blurred
and the frames' visible text is checked; every video carries the invisible watermark, and every mp4
a signed C2PA manifest (check with `worldfm guard verify OUT.mp4`). `--no-guardrails` turns the
guards off explicitly; the manifest records it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from worldfm.cli.common import console, err_console, handle_errors, print_json, read_actions_file

app = typer.Typer(no_args_is_help=True)

MODEL_HELP = (
    "World model: a tier (predict-nano, diffusion; ar-nano, autoregressive) or a pipeline folder "
    "(e.g. runs/predict-nano/export)."
)
SUFFIXES = (".mp4", ".webm", ".mkv")

# The options both commands take, declared once.
Out = Annotated[Path, typer.Option("--out", help="Output video (.mp4, .webm or .mkv).")]
Samples = Annotated[int, typer.Option("--samples", help="Different futures to generate (K), one file each.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the first sample; sample i uses seed + i.")]
Steps = Annotated[int | None, typer.Option("--steps", help="Sampler steps (default: the model's).")]
Guidance = Annotated[
    float | None,
    typer.Option("--guidance", help="Classifier-free guidance scale (1 = none; default: the model's)."),
]
DetailRestore = Annotated[
    float | None,
    typer.Option(
        "--detail-restore",
        help="Tolerance in [0, 1] for giving generated frames the detail of the last conditioning frame "
        "back where they did not change (0 = frames as the tokenizer decodes them; default: the model's).",
    ),
]
DetailRefine = Annotated[
    bool | None,
    typer.Option(
        "--detail-refine/--no-detail-refine",
        help="Use the model's learned detail refiner, where it ships one, for the detail restore "
        "(--no-detail-refine: the hand-made restore; default: the model's setting).",
    ),
]
NoiseScale = Annotated[
    float | None,
    typer.Option(
        "--noise-scale",
        help="Diffusion models: scale of the initial noise in (0, 2]; below 1 draws futures nearer the "
        "model's most likely one, with less variety between samples (default: the model's).",
    ),
]
Consensus = Annotated[
    int | None,
    typer.Option(
        "--consensus",
        help="Draw C futures per sample and keep the most typical one, the one nearest the others "
        "(C times the work; 1 = plain sampling; default: the model's). Output files name the seed kept.",
    ),
]
Model = Annotated[str, typer.Option("--model", help=MODEL_HELP)]
NoGuardrails = Annotated[
    bool,
    typer.Option("--no-guardrails", help="Turn the prompt and video guards off (recorded in the manifest)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print a JSON summary.")]


def progress_label(pipe: Any) -> str:
    """What the progress bar counts: sampler steps of the diffusion model, tokens of the AR model."""
    from worldfm.world.autoregressive.pipeline import ARPipeline

    return "sampling tokens" if isinstance(pipe, ARPipeline) else "denoising"


@contextmanager
def _progress(quiet: bool, label: str = "denoising") -> Iterator[Any]:
    columns = (TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=quiet) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _check_out(out: Path) -> None:
    from worldfm.errors import ConfigError

    if out.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"--out {out}: expected a video file ending in {', '.join(SUFFIXES)}")


def _load(model: str, guardrails: bool) -> Any:
    """The pipeline for `model` (either family; see `worldfm.world.load.load_world_pipeline`)."""
    from worldfm.world.load import load_world_pipeline

    return load_world_pipeline(model, guardrail="default" if guardrails else "off")


def _outputs(out: Path, seeds: list[int]) -> list[Path]:
    if len(seeds) == 1:
        return [out]
    return [out.with_name(f"{out.stem}_seed{s}{out.suffix}") for s in seeds]


def _write(result: Any, out: Path, mode: str, prompt: str | None) -> tuple[list[Path], list[bool]]:
    from worldfm.guardrails.release import generation_info, write_generated_video

    paths = _outputs(out, result.seeds)
    signed = [
        write_generated_video(path, video, result.fps, generation_info(result, i, mode, prompt))
        for i, (path, video) in enumerate(zip(paths, result.videos, strict=True))
    ]
    return paths, signed


def _faces(decision: dict[str, Any]) -> int | None:
    """Distinct faces the post-guard hid in one video (None when the face step did not run)."""
    for check in decision.get("checks", []):
        if check["name"] == "faces" and check["ran"]:
            return int(check["details"].get("tracks", 0))
    return None


def _report(
    mode: str, model: str, result: Any, written: tuple[list[Path], list[bool]], seconds: float, as_json: bool
) -> None:
    paths, signed = written
    k, n, h, w, _ = result.videos.shape
    report = {
        "mode": mode,
        "model": model,
        "outputs": [str(p) for p in paths],
        "seeds": result.seeds,
        "frames": n,
        "cond_frames": result.cond_frames,
        "height": h,
        "width": w,
        "fps": result.fps,
        "windows": result.windows,
        "sampler": result.settings,
        "guardrail": result.guardrail,
        "guardrails_enabled": bool(result.guardrails.get("enabled")),
        "faces": [_faces(v) for v in result.guardrails.get("videos", [])],
        "watermarks": result.watermarks,
        "signed": signed,
        "seconds": round(seconds, 3),
        "seconds_per_sample": round(seconds / k, 3),
    }
    if as_json:
        print_json(report)
        return
    where = str(paths[0]) if k == 1 else f"{paths[0].parent}/ ({', '.join(p.name for p in paths)})"
    console.print(
        f"wrote {k} video{'s' if k > 1 else ''} of {n} frames ({w}x{h}, {result.fps:g} fps"
        + (f", first {result.cond_frames} given" if result.cond_frames else "")
        + f") to {where} in {seconds:.1f} s",
        highlight=False,
    )
    if not result.guardrails.get("enabled"):
        err_console.print(
            "note: guardrails were turned off (--no-guardrails); the manifest says so", highlight=False
        )
    if not all(signed):
        err_console.print(
            "note: only .mp4 outputs carry a C2PA manifest; this file is unsigned", highlight=False
        )


def _sampling(
    samples: int,
    seed: int,
    steps: int | None,
    guidance: float | None,
    detail_restore: float | None,
    detail_refine: bool | None,
    noise_scale: float | None,
    consensus: int | None,
    **extra: Any,
) -> dict[str, Any]:
    """The `generate` keywords both commands pass from their shared options (None = the model's;
    the autoregressive model refuses the diffusion-only ones, steps and noise_scale, by name)."""
    return dict(
        samples=samples,
        seed=seed,
        steps=steps,
        guidance=guidance,
        detail_restore=detail_restore,
        detail_refine=detail_refine,
        noise_scale=noise_scale,
        consensus=consensus,
        **extra,
    )


def _run(
    mode: str,
    model: str,
    pipe: Any,
    out: Path,
    prompt: str | None,
    as_json: bool,
    generate: Callable[[Callable[[int, int], None]], Any],
) -> None:
    """Run `generate(progress)` under a progress bar, write its videos to `out` and report."""
    start = time.perf_counter()
    with _progress(as_json, progress_label(pipe)) as progress:
        result = generate(progress)
    seconds = time.perf_counter() - start
    _report(mode, model, result, _write(result, out, mode, prompt), seconds, as_json)


@app.command()
@handle_errors
def text2world(
    prompt: Annotated[str, typer.Option("--prompt", help="What happens in the scene.")],
    out: Out,
    frames: Annotated[
        int | None,
        typer.Option("--frames", help="Frames to generate (default: one model window, 17 for nano)."),
    ] = None,
    samples: Samples = 1,
    seed: Seed = 0,
    steps: Steps = None,
    guidance: Guidance = None,
    detail_restore: DetailRestore = None,
    detail_refine: DetailRefine = None,
    noise_scale: NoiseScale = None,
    consensus: Consensus = None,
    model: Model = "predict-nano",
    no_guardrails: NoGuardrails = False,
    as_json: AsJson = False,
) -> None:
    """Generate a video from a text prompt."""
    _check_out(out)
    pipe = _load(model, guardrails=not no_guardrails)
    n = frames if frames is not None else pipe.window_frames
    # `generate`, not the Text2World front door: an empty --prompt generates unconditioned.
    sampling = _sampling(
        samples, seed, steps, guidance, detail_restore, detail_refine, noise_scale, consensus
    )
    _run(
        "text2world",
        model,
        pipe,
        out,
        prompt,
        as_json,
        lambda p: pipe.generate(n, prompt=prompt, progress=p, **sampling),
    )


@app.command()
@handle_errors
def video2world(
    input: Annotated[
        Path, typer.Option("--input", help="Conditioning video (its first --cond-frames frames are used).")
    ],
    frames: Annotated[
        int, typer.Option("--frames", help="Frames of the output, the conditioning frames included.")
    ],
    out: Out,
    cond_frames: Annotated[
        int, typer.Option("--cond-frames", help="Conditioning frames taken from the input: 1, 5, 9, ...")
    ] = 1,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Optional description of what happens.")
    ] = None,
    actions: Annotated[
        Path | None,
        typer.Option("--actions", help="JSON file: frames - 1 rows of actions, one per transition."),
    ] = None,
    samples: Samples = 1,
    seed: Seed = 0,
    steps: Steps = None,
    guidance: Guidance = None,
    detail_restore: DetailRestore = None,
    detail_refine: DetailRefine = None,
    noise_scale: NoiseScale = None,
    consensus: Consensus = None,
    model: Model = "predict-nano",
    no_guardrails: NoGuardrails = False,
    as_json: AsJson = False,
) -> None:
    """Continue a video: predict what happens after its first frames (optionally under given actions)."""
    from worldfm.errors import ConfigError
    from worldfm.video.io import probe_video, read_video

    _check_out(out)
    if cond_frames < 1:
        raise ConfigError(f"--cond-frames must be >= 1 (1, 5, 9, ...), got {cond_frames}")
    acts = read_actions_file(actions) if actions is not None else None
    pipe = _load(model, guardrails=not no_guardrails)
    info = probe_video(input)
    video = read_video(input, 0, min(info.num_frames, cond_frames))  # only the frames it conditions on
    sampling = _sampling(
        samples, seed, steps, guidance, detail_restore, detail_refine, noise_scale, consensus,
        fps=info.fps or None,
    )  # fmt: skip
    _run(
        "video2world",
        model,
        pipe,
        out,
        prompt or None,
        as_json,
        lambda p: pipe.video2world(video, frames, cond_frames, prompt, acts, progress=p, **sampling),
    )


@app.command("attach-refiner")
@handle_errors
def attach_refiner(
    pipeline: Annotated[
        Path, typer.Argument(help="World model pipeline folder (e.g. runs/predict-nano/export).")
    ],
    refiner: Annotated[
        Path | None,
        typer.Option("--refiner", help="Refiner folder to attach (worldfm train refiner's OUT/export)."),
    ] = None,
    remove: Annotated[
        bool,
        typer.Option("--remove", help="Take the pipeline's refiner out (back to the hand-made restore)."),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Give a world model pipeline a learned detail refiner, or take it out with --remove.

    Refused (exit 1, the pipeline untouched) unless the refiner was trained behind the pipeline's own
    tokenizer decoder.
    """
    from worldfm.errors import ConfigError
    from worldfm.world.attach_refiner import attach_refiner as attach
    from worldfm.world.attach_refiner import detach_refiner as detach

    if (refiner is None) == (not remove):
        raise ConfigError("give either --refiner FOLDER (attach) or --remove (detach), not both or neither")
    report = detach(pipeline) if remove else attach(pipeline, refiner)
    if as_json:
        print_json(report)
    elif remove:
        console.print(f"removed refiner {report['name']} from {pipeline}", highlight=False)
    else:
        console.print(
            f"attached refiner {report['name']} ({report['parameters']:,} parameters, behind tokenizer "
            f"{report['tokenizer']} decoder {report['decoder_digest']}) to {pipeline}",
            highlight=False,
        )
