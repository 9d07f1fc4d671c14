"""`worldfm sim ...`: simulate physics episodes into datasets and preview them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from worldfm.cli.common import console, err_console, handle_errors, print_json, read_actions_file

app = typer.Typer(no_args_is_help=True)


@app.command("list")
@handle_errors
def list_scenarios(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the scenario families."""
    from worldfm.sim.registry import SCENARIOS

    if as_json:
        print_json(sorted(SCENARIOS))
    else:
        for name in sorted(SCENARIOS):
            console.print(name)


@app.command()
@handle_errors
def generate(
    scenario: str = typer.Option(..., "--scenario", help="Scenario family: objects, robot or driving."),
    episodes: int = typer.Option(8, "--episodes", min=1, help="Number of episodes."),
    frames: int = typer.Option(32, "--frames", min=2, help="Frames per episode."),
    size: int = typer.Option(64, "--size", help="Frame height and width in pixels (even, 16-512)."),
    seed: int = typer.Option(0, "--seed", help="Base seed; episode i uses a seed derived from (seed, i)."),
    out: Path = typer.Option(..., "--out", help="Output dataset folder."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    episodes_per_shard: int = typer.Option(64, "--episodes-per-shard", min=1, help="Episodes per tar shard."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset at --out."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report instead of text."),
) -> None:
    """Simulate episodes and write them as a dataset (WebDataset shards + parquet index)."""
    from worldfm.sim.generate import generate_dataset
    from worldfm.sim.registry import check_episode_args, get_scenario

    # Refuse bad arguments before the progress bar draws, so the error is the only output.
    get_scenario(scenario)
    check_episode_args(frames, size)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=as_json) as progress:
        task = progress.add_task(f"{scenario} episodes", total=episodes)
        report = generate_dataset(
            scenario,
            out,
            episodes=episodes,
            frames=frames,
            size=size,
            seed=seed,
            workers=workers,
            episodes_per_shard=episodes_per_shard,
            overwrite=overwrite,
            on_episode=lambda n: progress.update(task, completed=n),
        )
    if as_json:
        print_json(report.to_json())
    else:
        console.print(
            f"wrote {report.episodes} {scenario} episodes x {frames} frames at {size}px to {out} "
            f"in {report.seconds:.1f} s ({report.frames_per_second:.0f} frames/s)"
        )


@app.command()
@handle_errors
def episode(
    scenario: str = typer.Option(..., "--scenario", help="Scenario family: objects, robot or driving."),
    seed: int = typer.Option(
        ..., "--seed", min=0, help="Episode seed (with --index: the dataset's base seed)."
    ),
    index: int | None = typer.Option(
        None, "--index", min=0, help="Episode INDEX of a dataset written by `sim generate --seed SEED`."
    ),
    frames: int = typer.Option(32, "--frames", min=2, help="Frames in the episode."),
    size: int = typer.Option(64, "--size", help="Frame height and width in pixels (even, 16-512)."),
    view: str | None = typer.Option(None, "--view", help="driving: chase (default) or dash camera."),
    manoeuvre: str | None = typer.Option(
        None, "--manoeuvre", help="driving: force the ego's manoeuvre (follow, overtake, brake, ...)."
    ),
    actions: Path | None = typer.Option(
        None,
        "--actions",
        help="JSON actions (frames - 1 rows) replacing the agent's own: a counterfactual replay.",
    ),
    out: Path = typer.Option(..., "--out", help="Video file to write (.mp4, .mkv or .webm)."),
    actions_out: Path | None = typer.Option(
        None, "--actions-out", help="Also write the episode's actions as JSON (readable by --actions)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON report instead of text."),
) -> None:
    """Simulate one episode to a video, optionally under given actions (a counterfactual replay).

    The same scene and start as the episode itself; with --actions the robot arm or the ego car
    follows them instead of its scripted policy, and the frames up to the first changed action stay
    identical. Feed the same file to `worldfm predict video2world --actions` to compare a world
    model's prediction with the simulator's.
    """
    import json
    import time

    from worldfm.errors import ConfigError
    from worldfm.sim.registry import check_episode_args, episode_seed, generate_episode, takes_actions
    from worldfm.video.io import atomic_output, write_video

    check_episode_args(frames, size)
    episode_seed_value = seed if index is None else episode_seed(seed, index)
    has_actions = takes_actions(scenario)  # checked before simulating: a flag it cannot honour fails fast
    if actions is not None and not has_actions:
        raise ConfigError(
            f"--actions: the {scenario} scenario has no actions (only its seed sets an episode)"
        )
    if actions_out is not None and not has_actions:
        raise ConfigError(f"--actions-out: the {scenario} scenario has no actions")
    given = None if actions is None else read_actions_file(actions)
    start = time.perf_counter()
    options = {k: v for k, v in (("view", view), ("manoeuvre", manoeuvre)) if v is not None}
    ep = generate_episode(
        scenario, episode_seed_value, num_frames=frames, size=size, actions=given, **options
    )
    if actions_out is not None:
        record = {
            "scenario": scenario,
            "seed": episode_seed_value,
            "fps": ep.fps,
            "action_names": ep.action_names,
            "actions": ep.actions.tolist(),  # float32 values, exact in JSON: a replay reproduces them
        }
        with atomic_output(actions_out) as tmp:
            tmp.write_text(json.dumps(record) + "\n")
    write_video(out, ep.frames, fps=ep.fps)
    report = {
        "out": str(out),
        "scenario": scenario,
        "seed": episode_seed_value,
        "frames": frames,
        "size": size,
        "fps": ep.fps,
        "actions_given": given is not None,
        "actions_out": None if actions_out is None else str(actions_out),
        "caption": ep.caption,
        "seconds": round(time.perf_counter() - start, 3),
    }
    if as_json:
        print_json(report)
    else:
        what = "replayed under the given actions" if given is not None else "simulated"
        console.print(
            f"{scenario} episode {episode_seed_value} {what}: wrote {out} ({frames} frames at {ep.fps:g} fps)"
        )
        if actions_out is not None:
            console.print(f"wrote its actions to {actions_out}")
        console.print(ep.caption, highlight=False)


@app.command()
@handle_errors
def preview(
    dataset: Path = typer.Argument(..., help="Dataset folder written by `worldfm sim generate`."),
    out: Path = typer.Option(..., "--out", help="PNG file to write."),
    episodes: int = typer.Option(4, "--episodes", min=1, help="How many episodes to show."),
    columns: int = typer.Option(8, "--columns", min=1, help="Frames per row."),
    modalities: str = typer.Option(
        "rgb,depth,seg", "--modalities", help="Rows per episode: rgb, depth, seg."
    ),
) -> None:
    """Write a contact sheet PNG of a few episodes (RGB, depth and segmentation rows)."""
    from worldfm.sim.preview import dataset_contact_sheet

    path = dataset_contact_sheet(
        dataset, out, episodes=episodes, columns=columns, modalities=modalities.split(",")
    )
    console.print(f"wrote {path}")
