"""`worldfm train tokenizer`: end to end on a tiny recipe (sim data generated, trained, exported),
resume, error handling, and (slow) two-process DDP under torchrun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from worldfm.cli.main import app

runner = CliRunner()


def write_recipe(folder: Path, data_root: Path, episodes: int = 2, frames: int = 9, **train: object) -> Path:
    recipe = {
        "model": {"tier": "cv4x8x8-nano", "overrides": {"widths": [16, 32]}},
        "data": {
            "root": str(data_root),
            "datasets": [
                {"scenario": "objects", "episodes": episodes, "frames": frames, "size": 32, "seed": 1}
            ],
            "clip_length": 9,
            "clip_step": 4,
            "val_episodes": 1,
            "workers": 1,
        },
        "loss": {"image_fraction": 0.0},
        "train": {
            "max_steps": 50,
            "batch_size": 1,
            "warmup_steps": 1,
            "log_every": 1,
            "ckpt_every_minutes": 0,
            **train,
        },
        "export": {"latent_stats_clips": 2},
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


def test_train_tokenizer_end_to_end_and_resume(tmp_path: Path) -> None:
    from worldfm.tokenizers import VideoTokenizer

    config = write_recipe(tmp_path, tmp_path / "data")
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "tokenizer", "--config", str(config), "--out", str(out), "--max-steps", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 2 and summary["stop_reason"] == "max_steps"
    assert summary["export"] == str(out / "export")
    assert (
        tmp_path / "data" / "objects-32px-9f-2ep-seed1" / "dataset.json"
    ).is_file()  # generated from the recipe

    export = out / "export"
    assert {"config.json", "model.safetensors", "README.md", "training_record.json"} <= {
        p.name for p in export.iterdir()
    }
    record = json.loads((export / "training_record.json").read_text())
    assert record["steps"] == 2 and record["seed"] == 0 and record["wall_seconds"] > 0
    assert record["recipe"]["train"]["max_steps"] == 2
    assert set(record["val_exported"]) >= {"psnr", "ssim"}
    config_json = json.loads((export / "config.json").read_text())
    assert config_json["_dtype"] == "bfloat16"
    assert len(config_json["latent_mean"]) == 16 and all(s > 0 for s in config_json["latent_std"])
    model = VideoTokenizer.from_pretrained(export)
    assert model.config.latent_std is not None and model.config.widths == (16, 32)
    video = torch.zeros(1, 3, 5, 32, 32)
    assert model(video).reconstruction.shape == video.shape
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2]

    # Same command with more steps continues from the checkpoint at step 2.
    result = runner.invoke(
        app, ["train", "tokenizer", "--config", str(config), "--out", str(out), "--max-steps", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "resumed at step 2" in result.output and "trained 3 steps" in result.stdout
    # --no-resume refuses to clobber the run.
    result = runner.invoke(
        app, ["train", "tokenizer", "--config", str(config), "--out", str(out), "--no-resume"]
    )
    assert result.exit_code == 1 and "already holds checkpoints" in result.output


def test_bad_recipe_is_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("model: {tier: cv4x8x8-nano}\ndata: {root: x, datasets: [], clip_length: 9}\n")
    result = runner.invoke(app, ["train", "tokenizer", "--config", str(config)])
    assert result.exit_code == 1
    assert "error:" in result.output and "data.datasets must be a non-empty list" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["train", "tokenizer", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_fit_minutes_flag_reaches_the_recipe(tmp_path: Path) -> None:
    # The tiny recipe warms up for 1 step: too short to time, so the flag's value is refused by name.
    config = write_recipe(tmp_path, tmp_path / "data")
    result = runner.invoke(app, ["train", "tokenizer", "--config", str(config), "--fit-minutes", "5"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "fit_minutes needs train.warmup_steps >= 10" in result.output
    assert not (tmp_path / "data").exists()  # refused before any data is generated


@pytest.mark.slow
def test_ddp_two_processes_under_torchrun(tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    assert torchrun is not None
    # 3 episodes of 13 frames, 1 held out: 4 training clips, 2 per rank.
    config = write_recipe(tmp_path, tmp_path / "data", episodes=3, frames=13, max_steps=2)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "worldfm.cli.main",
        "train",
        "tokenizer",
        "--config",
        str(config),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert summary["steps"] == 2
    start = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert start["world_size"] == 2
    record = json.loads((out / "export" / "training_record.json").read_text())
    assert record["world_size"] == 2 and record["steps"] == 2


def test_train_refiner_end_to_end(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "world" / "diffusion"))
    from predict_helpers import tiny_pipeline

    pipe = tiny_pipeline(None).save_pretrained(tmp_path / "pipe", dtype="float32")
    recipe = {
        "model": {"name": "tiny-refiner", "channels": 4, "dilations": [1]},
        "tokenizer": {"source": str(pipe)},
        "data": {
            "root": str(tmp_path / "data"),
            "datasets": [{"scenario": "objects", "episodes": 2, "frames": 9, "size": 32, "seed": 1}],
            "clip_length": 9,
            "val_episodes": 1,
            "workers": 1,
        },
        "loss": {"targets_per_clip": 2, "horizon": 4},
        "train": {"max_steps": 2, "batch_size": 1, "warmup_steps": 1, "ckpt_every_minutes": 0},
    }
    config = tmp_path / "refiner.yaml"
    config.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "refiner", "--config", str(config), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert (
        summary["steps"] == 2 and "gain_db" in summary["val"] and (out / "export" / "config.json").is_file()
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**recipe, "loss": {"horizon": 0}}))
    result = runner.invoke(app, ["train", "refiner", "--config", str(bad)])
    assert result.exit_code == 1 and "loss.horizon must be an integer >= 1" in result.output
