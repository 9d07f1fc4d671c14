"""The top-level CLI: version, doctor, sim commands and their error handling, through typer and a real process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worldfm import __version__
from worldfm.cli.main import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"worldfm {__version__}"


def test_doctor_json_reports_every_check() -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    report = json.loads(result.stdout)
    names = {c["name"] for c in report["checks"]}
    assert {"torch", "cuda", "video", "render", "extra [sim]", "extra [data]"} <= names
    assert report["ok"] is True, report
    assert result.exit_code == 0


def test_doctor_renders_in_a_fresh_process_without_mujoco_gl() -> None:
    """The render check must not depend on the caller having set MUJOCO_GL (mujoco reads it at import)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    cmd = [sys.executable, "-m", "worldfm.cli.main", "doctor", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    render = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "render")
    assert render["ok"], render


def test_sim_list() -> None:
    result = runner.invoke(app, ["sim", "list", "--json"])
    assert json.loads(result.stdout) == ["driving", "objects", "robot"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "lava"], "unknown scenario 'lava'"),
        (["--scenario", "objects", "--size", "65"], "size must be an even number"),
    ],
)
def test_sim_generate_bad_arguments_fail_cleanly(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "ds"
    result = runner.invoke(app, ["sim", "generate", *args, "--out", str(out)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert not out.exists()


def test_real_process_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "worldfm.cli.main",
        "sim",
        "generate",
        "--scenario",
        "lava",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: unknown scenario 'lava'")
