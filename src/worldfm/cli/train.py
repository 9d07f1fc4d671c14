"""`worldfm train ...`: run training recipes (single process, or one process per rank under torchrun)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from worldfm.cli.common import err_console, handle_errors, print_json

app = typer.Typer(no_args_is_help=True)

# The options every recipe command shares (tokenizer, predict, ar).
Resume = Annotated[
    bool,
    typer.Option(
        "--resume/--no-resume", help="Continue from the run folder's latest checkpoint if there is one."
    ),
]
MaxSteps = Annotated[int | None, typer.Option("--max-steps", min=1, help="Override train.max_steps.")]
MaxMinutes = Annotated[
    float | None,
    typer.Option(
        "--max-minutes", min=0.01, help="Override train.max_minutes: stop cleanly, checkpoint and export."
    ),
]
FitMinutes = Annotated[
    float | None,
    typer.Option(
        "--fit-minutes",
        min=0.01,
        help="Override train.fit_minutes: size the schedule to this wall time at the end of warmup.",
    ),
]
Device = Annotated[str | None, typer.Option("--device", help="cpu or cuda (default: cuda when available).")]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        help="Override train.threads (torch CPU threads; 1 can be faster on a busy machine).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print a JSON summary at the end.")]
PrintRecipe = Annotated[
    bool,
    typer.Option(
        "--print-recipe",
        help="Print the recipe as it would run (its `base:` files merged in, the options above applied) "
        "as YAML, and exit without training.",
    ),
]


@app.command()
@handle_errors
def tokenizer(
    config: Path = typer.Option(
        ..., "--config", help="Recipe YAML, e.g. configs/tokenizer/cv4x8x8-nano.yaml."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Run folder (checkpoints, log.jsonl, export/); default runs/<recipe name>."
    ),
    resume: Resume = True,
    max_steps: MaxSteps = None,
    max_minutes: MaxMinutes = None,
    fit_minutes: FitMinutes = None,
    device: Device = None,
    threads: Threads = None,
    as_json: AsJson = False,
    print_recipe: PrintRecipe = False,
) -> None:
    """Train a video tokenizer from a recipe and export its EMA weights to OUT/export.

    Under `torchrun --standalone --nproc_per_node=N -m worldfm.cli.main train tokenizer ...` it
    trains with DistributedDataParallel (gloo on CPU, nccl on CUDA); rank 0 writes everything.
    """
    from worldfm.train.recipes.tokenizer import load_tokenizer_recipe, run_tokenizer_recipe

    _run(load_tokenizer_recipe, run_tokenizer_recipe, config, out, resume, device, as_json,
         print_recipe=print_recipe, max_steps=max_steps, max_minutes=max_minutes, fit_minutes=fit_minutes, threads=threads)  # fmt: skip


@app.command()
@handle_errors
def predict(
    config: Path = typer.Option(..., "--config", help="Recipe YAML, e.g. configs/predict/predict-nano.yaml."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Run folder (checkpoints, latent cache, log.jsonl, export/); default runs/<recipe name>.",
    ),
    resume: Resume = True,
    max_steps: MaxSteps = None,
    max_minutes: MaxMinutes = None,
    fit_minutes: FitMinutes = None,
    device: Device = None,
    threads: Threads = None,
    as_json: AsJson = False,
    print_recipe: PrintRecipe = False,
) -> None:
    """Train the diffusion world model from a recipe and export the pipeline to OUT/export (also under torchrun)."""
    from worldfm.train.recipes.predict import load_predict_recipe, run_predict_recipe

    _run(load_predict_recipe, run_predict_recipe, config, out, resume, device, as_json,
         print_recipe=print_recipe, max_steps=max_steps, max_minutes=max_minutes, fit_minutes=fit_minutes, threads=threads)  # fmt: skip


@app.command()
@handle_errors
def ar(
    config: Path = typer.Option(..., "--config", help="Recipe YAML, e.g. configs/ar/ar-nano.yaml."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Run folder (checkpoints, token cache, log.jsonl, export/); default runs/<recipe name>.",
    ),
    resume: Resume = True,
    max_steps: MaxSteps = None,
    max_minutes: MaxMinutes = None,
    fit_minutes: FitMinutes = None,
    device: Device = None,
    threads: Threads = None,
    as_json: AsJson = False,
    print_recipe: PrintRecipe = False,
) -> None:
    """Train the autoregressive world model from a recipe and export the pipeline to OUT/export (also under torchrun)."""
    from worldfm.train.recipes.ar import load_ar_recipe, run_ar_recipe

    _run(load_ar_recipe, run_ar_recipe, config, out, resume, device, as_json,
         print_recipe=print_recipe, max_steps=max_steps, max_minutes=max_minutes, fit_minutes=fit_minutes, threads=threads)  # fmt: skip


@app.command()
@handle_errors
def refiner(
    config: Path = typer.Option(
        ..., "--config", help="Recipe YAML, e.g. configs/refiner/refiner-predict-nano.yaml."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Run folder (checkpoints, log.jsonl, export/); default runs/<recipe name>."
    ),
    resume: Resume = True,
    max_steps: MaxSteps = None,
    max_minutes: MaxMinutes = None,
    fit_minutes: FitMinutes = None,
    device: Device = None,
    threads: Threads = None,
    as_json: AsJson = False,
    print_recipe: PrintRecipe = False,
) -> None:
    """Train a detail refiner behind a world model's tokenizer and export it to OUT/export (also under
    torchrun): on true clips through the tokenizer, and with a `samples` section also on a world
    model's own sampled futures (built first into OUT/samples, resumable);
    `worldfm predict attach-refiner PIPELINE --refiner OUT/export` puts it to use."""
    from worldfm.train.recipes.refiner import load_refiner_recipe, run_refiner_recipe

    _run(load_refiner_recipe, run_refiner_recipe, config, out, resume, device, as_json,
         print_recipe=print_recipe, max_steps=max_steps, max_minutes=max_minutes, fit_minutes=fit_minutes, threads=threads)  # fmt: skip


@app.command("guard-text")
@handle_errors
def guard_text(
    config: Path = typer.Option(
        ..., "--config", help="Recipe YAML, e.g. configs/guardrails/text-classifier.yaml."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Run folder (export/ holds the classifier); default runs/<recipe name>."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary at the end."),
) -> None:
    """Train the text pre-guard's classifier over MiniLM embeddings and export it to OUT/export."""
    from worldfm.train.recipes.guard_text import load_guard_text_recipe, run_guard_text_recipe

    _run(load_guard_text_recipe, run_guard_text_recipe, config, out, True, None, as_json)


def _run(
    load: Callable[[Path], Any],
    run: Callable[..., dict[str, Any]],
    config: Path,
    out: Path | None,
    resume: bool,
    device: str | None,
    as_json: bool,
    print_recipe: bool = False,
    **overrides: float | int | None,
) -> None:
    """Load a recipe, apply the command-line overrides of its train section, run it, print the summary
    (or, with `print_recipe`, print the recipe as YAML and stop)."""
    recipe = load(config)
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes:
        recipe = recipe.with_train(**changes)
    if print_recipe:
        import yaml

        typer.echo(
            yaml.safe_dump(recipe.to_dict(), sort_keys=False, default_flow_style=None, width=110), nl=False
        )
        return

    def log(message: str) -> None:
        err_console.print(message, highlight=False, markup=False, soft_wrap=True)

    run_dir = out if out is not None else Path("runs") / config.stem
    summary = run(recipe, run_dir, resume=resume, device=device, log=log)
    if "export" not in summary:  # not rank 0 under torchrun
        return
    if as_json:
        print_json(summary)
    else:
        val = ", ".join(f"{k} {v:.4g}" for k, v in summary["val"].items())
        typer.echo(
            f"trained {summary['steps']} steps ({summary['stop_reason']}) in {summary['wall_seconds'] / 60:.1f} min; "
            f"exported to {summary['export']}" + (f" ({val})" if val else "")
        )
