"""`worldfm sim episode`: one episode to a video, its actions to JSON, and counterfactual replays."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from worldfm.cli.main import app
from worldfm.sim.registry import episode_seed, generate_episode
from worldfm.video.io import probe_video, read_video

runner = CliRunner()


def test_episode_video_actions_and_replay(tmp_path: Path) -> None:
    ep_path, acts_path = tmp_path / "ep.mp4", tmp_path / "ep.json"
    args = ["sim", "episode", "--scenario", "driving", "--seed", "5", "--index", "2", "--frames", "9"]
    result = runner.invoke(
        app, [*args, "--size", "32", "--out", str(ep_path), "--actions-out", str(acts_path)]
    )
    assert result.exit_code == 0, result.output
    seed = episode_seed(5, 2)  # episode 2 of a dataset written with `sim generate --seed 5`
    original = generate_episode("driving", seed, num_frames=9, size=32)
    info = probe_video(ep_path)
    assert (info.num_frames, info.width, info.height, info.fps) == (9, 32, 32, 5.0)
    record = json.loads(acts_path.read_text())
    assert record["seed"] == seed and record["action_names"] == ["acceleration", "steering"]
    np.testing.assert_array_equal(
        np.asarray(record["actions"], np.float32), original.actions
    )  # exact in JSON

    # A counterfactual: full throttle from action 4 on; the report says so, the video differs later.
    record["actions"] = [row if t < 4 else [1.0, row[1]] for t, row in enumerate(record["actions"])]
    (tmp_path / "cf.json").write_text(json.dumps(record))
    cf_path = tmp_path / "cf.mp4"
    result = runner.invoke(
        app, [*args, "--size", "32", "--actions", str(tmp_path / "cf.json"), "--out", str(cf_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["actions_given"] is True and report["seed"] == seed and report["out"] == str(cf_path)
    assert {"scenario", "frames", "size", "fps", "caption", "seconds", "actions_out"} <= set(report)
    ours, theirs = read_video(cf_path), read_video(ep_path)
    assert ours.shape == theirs.shape == (9, 32, 32, 3)
    assert np.abs(ours[-1].astype(int) - theirs[-1]).mean() > 2.0


def test_episode_driving_dash_view(tmp_path: Path) -> None:
    out = tmp_path / "dash.mp4"
    args = ["sim", "episode", "--scenario", "driving", "--seed", "3", "--frames", "3", "--size", "16"]
    result = runner.invoke(
        app, [*args, "--view", "dash", "--manoeuvre", "brake", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["caption"].startswith("Dash-camera view") and out.is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "objects", "--actions", "ACTS"], "the objects scenario has no actions"),
        (
            ["--scenario", "objects", "--actions-out", "AOUT"],
            "--actions-out: the objects scenario has no actions",
        ),
        (["--scenario", "robot", "--actions", "ACTS"], r"actions must have shape \(3, 4\)"),
        (["--scenario", "driving", "--actions", "MISSING"], "file does not exist"),
        (["--scenario", "galaxy"], "unknown scenario"),
        (["--scenario", "objects", "--view", "dash"], "the objects scenario has no option 'view'"),
        (["--scenario", "driving", "--view", "drone"], "view must be one of"),
    ],
)
def test_episode_bad_input_fails_cleanly(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "acts.json").write_text(json.dumps([[0.0, 0.0]] * 3))
    paths = {
        "ACTS": str(tmp_path / "acts.json"),
        "MISSING": str(tmp_path / "nope.json"),
        "AOUT": str(tmp_path / "actions_out.json"),
    }
    args = [paths.get(a, a) for a in args]
    out = tmp_path / "out.mp4"
    result = runner.invoke(
        app, ["sim", "episode", "--seed", "1", "--frames", "4", "--size", "16", *args, "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "error:" in result.output and re.search(message, " ".join(result.output.split()))
    assert not out.exists() and not (tmp_path / "actions_out.json").exists()
