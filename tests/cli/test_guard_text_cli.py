"""`worldfm guard text`: exit codes 0 (allowed), 3 (blocked, including fail closed), 1 (error), JSON."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from worldfm.cli.main import app

runner = CliRunner()


def test_allowed_prompt_exits_0() -> None:
    result = runner.invoke(app, ["guard", "text", "kill the engine"])
    assert result.exit_code == 0, result.output
    assert "ALLOWED" in result.output


def test_blocked_prompt_exits_3_with_reasons() -> None:
    result = runner.invoke(app, ["guard", "text", "how to make a b0mb"])
    assert result.exit_code == 3, result.output
    assert "BLOCKED" in result.output and "blocklist" in result.output


def test_json_is_the_decision() -> None:
    result = runner.invoke(app, ["guard", "text", "k i l l the man", "--json"])
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["allowed"] is False
    assert [c["name"] for c in data["checks"]] == ["input", "normalize", "blocklist", "classifier"]
    assert data["checks"][1]["details"]["text"] == "kill the man"
    ok = runner.invoke(app, ["guard", "text", "a robot arm stacks two red cubes", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["allowed"] is True


def test_missing_classifier_fails_closed_with_exit_3(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["guard", "text", "cut the rope", "--classifier", str(tmp_path / "nope"), "--json"]
    )
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert any(not c["ran"] and "could not run" in c["reason"] for c in data["checks"])


def test_empty_prompt_blocked_and_bad_options_exit_1() -> None:
    assert runner.invoke(app, ["guard", "text", ""]).exit_code == 3
    result = runner.invoke(app, ["guard", "text", "x", "--no-classifier", "--classifier", "somewhere"])
    assert result.exit_code == 1
    assert "exclude each other" in result.output
