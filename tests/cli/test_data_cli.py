"""`worldfm data info`: JSON and table summaries of a real simulated dataset, clean errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from worldfm.cli import data
from worldfm.data import DatasetWriter

runner = CliRunner()
# Mount the group the way cli/main.py does, so the test does not depend on the other command groups.
root = typer.Typer()
root.add_typer(data.app, name="data")
WORLDFM = Path(sys.executable).with_name("worldfm")  # the console script installed in the venv


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import worldfm.sim

    out = tmp_path_factory.mktemp("cli") / "objects"
    with DatasetWriter(out, episodes_per_shard=1) as writer:
        for seed in (1, 2):
            writer.write(worldfm.sim.generate_episode("objects", seed, num_frames=6, size=32))
    return out


def test_info_json(dataset: Path) -> None:
    result = runner.invoke(root, ["data", "info", str(dataset), "--json"])
    assert result.exit_code == 0, result.output
    assert '"num_episodes": 2' in result.stdout
    info = json.loads(result.stdout)
    assert (info["num_frames"], info["num_shards"], info["frame_sizes"]) == (12, 2, {"32x32": 2})
    assert info["scenarios"] == {"objects": 2} and info["fps"] == [15.0] and info["action_dims"] == []
    assert info["bytes_on_disk"] == sum(p.stat().st_size for p in dataset.iterdir())
    assert len(info["example_captions"]) == 2 and all(info["example_captions"])


def test_info_table(dataset: Path) -> None:
    result = runner.invoke(root, ["data", "info", str(dataset)])
    assert result.exit_code == 0, result.output
    for text in ("episodes", "12 (6 per episode)", "32x32", "objects (2)", "shards", "KiB", "caption 1"):
        assert text in result.stdout


def test_info_errors_are_one_line(tmp_path: Path) -> None:
    for path, reason in [
        (tmp_path / "missing", "dataset folder does not exist"),
        (tmp_path, "not a worldfm dataset"),
    ]:
        result = runner.invoke(root, ["data", "info", str(path), "--json"])
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.startswith(f"error: {path}: {reason}")
        assert result.stderr.count("\n") == 1


def test_info_real_process(dataset: Path, tmp_path: Path) -> None:
    ok = subprocess.run(
        [str(WORLDFM), "data", "info", str(dataset), "--json"], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["num_episodes"] == 2
    (tmp_path / "shard-000000.tar").write_bytes(b"junk")
    bad = subprocess.run(
        [str(WORLDFM), "data", "info", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"error: {tmp_path}: not a worldfm dataset (no dataset.json)"
