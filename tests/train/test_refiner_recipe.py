"""Detail-refiner recipe: strict parsing, the shipped configs, the task's draws and scores, and exact
resume plus export on real sim clips behind a real (tiny) tokenizer."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "world" / "diffusion"))

from predict_helpers import tiny_pipeline, tiny_tokenizer

from worldfm.errors import ConfigError
from worldfm.train.recipes.refiner import (
    RefinerLossSpec,
    RefinerTask,
    load_refiner_recipe,
    parse_refiner_recipe,
    run_refiner_recipe,
    source_tokenizer,
)
from worldfm.world.refiner import DetailRefiner, decoder_digest

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "refiner").glob("*.yaml"))


def tiny_recipe(root: Path, source: str, **train: Any) -> dict[str, Any]:
    return {
        "model": {"name": "tiny-refiner", "channels": 4, "dilations": [1, 2]},
        "tokenizer": {"source": source},
        "data": {
            "root": str(root),
            "datasets": [{"scenario": "objects", "episodes": 3, "frames": 13, "size": 32, "seed": 1}],
            "clip_length": 9,
            "clip_step": 4,
            "val_episodes": 1,
            "workers": 1,
        },
        "loss": {"targets_per_clip": 2, "max_cond_frames": 5, "horizon": 4},
        "train": {
            "max_steps": 3,
            "batch_size": 2,
            "warmup_steps": 1,
            "ckpt_every_minutes": 0,
            "seed": 5,
            **train,
        },
    }


def test_shipped_configs_parse() -> None:
    assert {p.stem for p in CONFIGS} >= {"refiner-predict-nano", "refiner-ar-nano"}
    for path in CONFIGS:
        recipe = load_refiner_recipe(path)
        base, _, stage = path.stem.partition("-stage")  # a later stage ships under the same name
        name, _, tokenizer = base.partition("-tokenizer")  # behind a newer tokenizer than the pipeline's
        tokenizer, _, line = tokenizer.partition("-")  # e.g. "12-prior": the line of a later DiT over it
        if line:  # a stage-2 refiner fine-tuned again, on the futures of that line's DiT (its own export)
            pipeline = f"runs/{name.removeprefix('refiner-')}-tok{tokenizer}-{line}/export"
            assert recipe.tokenizer.source == f"{pipeline}/tokenizer"
            assert recipe.samples is not None and recipe.samples.pipeline == pipeline
            assert recipe.model.init_from == f"runs/{name}-tokenizer{tokenizer}-stage2/export"
            assert recipe.model.name == name and "attach-refiner" in path.read_text()
            continue
        if recipe.model.warp:  # the shipped refiner grown by the motion head, fine-tuned
            name = name.removesuffix("-warp")
            assert (
                recipe.model.init_from == f"src/worldfm/hub/weights/{name.removeprefix('refiner-')}/refiner"
            )
            assert recipe.samples is not None and recipe.samples.pipeline == recipe.tokenizer.source
        assert recipe.model.name == name
        source = recipe.tokenizer.source
        # the world model whose samples a later stage learns from (behind stage 12: the CPU-trained DiT,
        # whose pipeline's own bfloat16 copy of the tokenizer the stage reads)
        pipeline = {"": source, "12": "runs/predict-nano-tok12-cpu/export"}.get(
            tokenizer, "runs/predict-nano-gpu/export"
        )
        if stage and tokenizer == "12":
            assert source == f"{pipeline}/tokenizer"
        elif tokenizer:  # behind a tokenizer stage's own export (the shipped tier moved on)
            tier = "dv4x8x8-nano" if name == "refiner-ar-nano" else "cv4x8x8-nano"
            assert source == f"runs/{tier}-stage{tokenizer}/export"
        else:
            assert source == name.removeprefix("refiner-")
        if stage:  # fine-tuned from the first stage on the world model's own samples
            assert recipe.model.init_from == f"runs/{base}/export"
            assert recipe.samples is not None and recipe.samples.pipeline == pipeline
        if recipe.model.init_from_other_decoder:  # a shipped refiner moved behind a newer decoder
            assert recipe.model.init_from is not None and recipe.model.init_from.startswith(f"runs/{name}")
            assert recipe.model.init_from.endswith("-stage2/export")  # the shipped refiner
            pipeline = f"runs/{name.removeprefix('refiner-')}-tok{tokenizer}/export"
            assert recipe.samples is not None and recipe.samples.pipeline == pipeline
        assert {d.scenario for d in recipe.data.datasets} == {"objects", "robot", "driving"}
        assert "Launch" in path.read_text() and "attach-refiner" in path.read_text()


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("loss.l1", -1.0, "loss.l1 must be a number >= 0"),
        ("loss.targets_per_clip", 0, "loss.targets_per_clip must be an integer >= 1"),
        ("model.channels", 0, "model: channels must be an integer >= 1"),
        ("model.tolerance", 0.0, "tolerance must be > 0"),
        ("tokenizer.source", " ", "tokenizer.source must name"),
        ("data.clip_length", 1, "data.clip_length"),
        ("loss.zz", 1, "zz"),
    ],
)
def test_bad_recipes_name_the_key(tmp_path: Path, dotted: str, value: Any, message: str) -> None:
    data = copy.deepcopy(tiny_recipe(tmp_path, "predict-nano"))
    head, key = dotted.split(".")
    data[head][key] = value
    with pytest.raises(ConfigError, match=message):
        parse_refiner_recipe(data)


def test_tokenizer_section_is_required(tmp_path: Path) -> None:
    data = tiny_recipe(tmp_path, "predict-nano")
    assert parse_refiner_recipe(data).tokenizer.source == "predict-nano"
    del data["tokenizer"]
    with pytest.raises(ConfigError, match="tokenizer"):
        parse_refiner_recipe(data)


def test_source_tokenizer_reads_pipelines_and_tokenizers(tmp_path: Path) -> None:
    tok, name = source_tokenizer("predict-nano")  # a shipped pipeline: its own tokenizer/
    assert name == tok.config.name and not any(p.requires_grad for p in tok.parameters())
    folder = tiny_pipeline(None).save_pretrained(tmp_path / "p", dtype="float32")
    assert source_tokenizer(str(folder))[1] == "tiny-cv"
    assert source_tokenizer(str(folder / "tokenizer"))[1] == "tiny-cv"
    with pytest.raises(ConfigError, match=r"tokenizer\.source 'no-such'"):
        source_tokenizer("no-such")


def test_task_draws_within_the_clip_and_scores_the_restore_as_baseline() -> None:
    task = RefinerTask(
        tiny_tokenizer(), RefinerLossSpec(targets_per_clip=3, max_cond_frames=17, horizon=16), 0.1
    )
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        for k, ts in task.draw(9, 4, g):
            assert 1 <= k <= 8 and len(ts) == 3 and all(k <= t < 9 for t in ts)
    video = torch.rand(2, 3, 9, 16, 16, generator=g) * 2 - 1
    untrained = DetailRefiner()  # zero last layer: exactly the restore
    scores = task.validate(untrained, [{"video": video}])
    assert scores["gain_db"] == pytest.approx(0.0, abs=1e-9) and scores["clips"] == 2
    assert np.isfinite(scores["psnr"])


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim")


def test_resume_is_exact_and_export_fits_the_pipeline(tmp_path: Path, sim_root: Path) -> None:
    from worldfm.world.attach_refiner import attach_refiner
    from worldfm.world.diffusion.pipeline import PredictPipeline

    pipeline = tiny_pipeline(None).save_pretrained(tmp_path / "pipe", dtype="float32")
    recipe = parse_refiner_recipe(tiny_recipe(sim_root, str(pipeline)))
    full = run_refiner_recipe(recipe, tmp_path / "a", losses=True)
    part = run_refiner_recipe(recipe, tmp_path / "b", losses=True, until=1)
    rest = run_refiner_recipe(recipe, tmp_path / "b", losses=True)
    assert part["losses"] + rest["losses"] == full["losses"] and len(full["losses"]) == 3
    assert full["val"] == rest["val"] and {"psnr", "psnr_restore", "gain_db"} <= set(full["val"])
    export = Path(full["export"])
    refiner = DetailRefiner.from_pretrained(export)
    assert refiner.config.name == "tiny-refiner" and refiner.config.tokenizer == "tiny-cv"
    pipe = PredictPipeline.from_pretrained(pipeline, guardrail="off")
    assert refiner.config.decoder_digest == decoder_digest(pipe.tokenizer)
    assert (export / "README.md").is_file() and (export / "training_record.json").is_file()
    attach_refiner(pipeline, export)
    assert PredictPipeline.from_pretrained(pipeline, guardrail="off").refiner is not None


def test_init_from_another_decoder_needs_the_flag_and_moves_the_refiner(
    tmp_path: Path, sim_root: Path
) -> None:
    """A refiner trained behind one decoder warm-starts a run behind another decoder of the same
    latents only with `model.init_from_other_decoder`; the export is tied to the new decoder."""
    from worldfm.tokenizers import VideoTokenizer

    pipeline = tiny_pipeline(None).save_pretrained(tmp_path / "pipe", dtype="float32")
    first = run_refiner_recipe(parse_refiner_recipe(tiny_recipe(sim_root, str(pipeline))), tmp_path / "s1")
    other = VideoTokenizer.from_pretrained(pipeline / "tokenizer")
    with torch.no_grad():  # a retrained decoder: same encoder, other decoder weights
        for p in other.decoder.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 1e-2)
    folder = other.save_pretrained(tmp_path / "other-decoder")
    data = tiny_recipe(sim_root, str(folder))
    data["model"]["init_from"] = first["export"]
    with pytest.raises(ConfigError, match="was trained behind decoder"):
        run_refiner_recipe(parse_refiner_recipe(data), tmp_path / "refused")
    data["model"]["init_from_other_decoder"] = True
    moved = run_refiner_recipe(parse_refiner_recipe(data), tmp_path / "moved")
    export = Path(moved["export"])
    assert DetailRefiner.from_pretrained(export).config.decoder_digest == decoder_digest(other)
    assert decoder_digest(other) != DetailRefiner.from_pretrained(first["export"]).config.decoder_digest
    assert "trained behind another decoder" in (export / "README.md").read_text()


def test_warp_refiner_grows_from_a_plain_one_not_back(tmp_path: Path, sim_root: Path) -> None:
    """`model.warp` with a plain `init_from`: the motion head is added at zero and trained; a warp
    refiner cannot start a plain one (its head would be dropped)."""
    pipeline = tiny_pipeline(None).save_pretrained(tmp_path / "pipe", dtype="float32")
    plain = run_refiner_recipe(parse_refiner_recipe(tiny_recipe(sim_root, str(pipeline))), tmp_path / "plain")
    data = tiny_recipe(sim_root, str(pipeline))
    data["model"].update(init_from=plain["export"], warp=True)
    grown = run_refiner_recipe(parse_refiner_recipe(data), tmp_path / "warp", losses=True)
    refiner = DetailRefiner.from_pretrained(grown["export"])
    assert refiner.config.warp and refiner.warp_head is not None
    assert refiner.warp_head.weight.abs().sum() > 0  # trained away from zero
    back = tiny_recipe(sim_root, str(pipeline))
    back["model"]["init_from"] = grown["export"]
    with pytest.raises(ConfigError, match=r"does not fit this model's architecture.*unexpected: warp_head"):
        run_refiner_recipe(parse_refiner_recipe(back), tmp_path / "back")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"init_from_other_decoder": True}, "init_from_other_decoder needs model.init_from"),
        (
            {"init_from": "x", "init_from_other_decoder": "yes"},
            "init_from_other_decoder must be of type bool",
        ),
    ],
)
def test_init_from_other_decoder_is_checked(tmp_path: Path, model: dict[str, Any], message: str) -> None:
    data = tiny_recipe(tmp_path, "predict-nano")
    data["model"].update(model)
    with pytest.raises(ConfigError, match=message):
        parse_refiner_recipe(data)
