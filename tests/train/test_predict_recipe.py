"""Predict recipe: strict YAML parsing and fit checks, the shipped configs, the task's loss, and a
tiny end-to-end run through the generic Trainer (real sim clips, a tiny random CV tokenizer saved
to disk, the real MiniLM) that exports a pipeline the pipelines load."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from worldfm.errors import ConfigError, WorldfmError
from worldfm.tokenizers import TokenizerConfig, VideoTokenizer
from worldfm.train.recipes.predict import (
    CACHE_FILE,
    ConditioningSpec,
    DiffusionSpec,
    PredictTask,
    load_predict_recipe,
    parse_predict_recipe,
    run_predict_recipe,
)

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "predict").glob("*.yaml"))


def save_tiny_tokenizer(folder: Path, stats: bool = True) -> Path:
    torch.manual_seed(0)
    cfg = TokenizerConfig(
        kind="continuous",
        latent_channels=4,
        widths=(8, 16),
        depth=1,
        latent_mean=(0.0, 0.1, -0.1, 0.0) if stats else None,
        latent_std=(1.0, 0.5, 2.0, 1.0) if stats else None,
        name="tiny-cv",
    )
    VideoTokenizer(cfg).save_pretrained(folder, dtype="float32")
    return folder


def tiny_recipe(data_root: Path, tokenizer: Path, **train: Any) -> dict[str, Any]:
    return {
        "model": {
            "tier": "predict-nano",
            "overrides": {
                "width": 32,
                "depth": 1,
                "heads": 2,
                "adaln_lora_rank": 4,
                "sample_frames": 3,
                "sample_size": 2,
            },
        },
        "tokenizer": {"path": str(tokenizer)},
        "text": {"max_tokens": 16},
        "data": {
            "root": str(data_root),
            "datasets": [
                {"scenario": "objects", "episodes": 2, "frames": 9, "size": 16, "seed": 1},
                {"scenario": "robot", "episodes": 2, "frames": 9, "size": 16, "seed": 2},
            ],
            "clip_length": 9,
            "val_episodes": 1,
            "workers": 1,
        },
        "conditioning": {"latent_frames": [0, 1, 2], "weights": [1, 1, 1]},
        "diffusion": {"timesteps": "logit_normal"},
        "cache": {"latents": True},
        "train": {
            "max_steps": 2,
            "batch_size": 2,
            "warmup_steps": 1,
            "ckpt_every_minutes": 0,
            "log_every": 1,
            "seed": 3,
            **train,
        },
        "export": {"steps": 2, "sampler": "euler", "dtype": "float32", "fps": 8.0},
    }


def edit(recipe: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(recipe)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value
    return out


def test_shipped_configs_parse() -> None:
    assert {p.stem for p in CONFIGS} == {
        "predict-nano",
        "predict-nano-gpu",
        "predict-nano-gpu-tok12",
        "predict-nano-gpu-tok12-prior",
        "predict-nano-stage2",
        "predict-nano-stage3",
        "predict-nano-stage4",
        "predict-nano-stage5",
        "predict-nano-tok12-cpu",
        "predict-nano-tok12-cpu-stage2",
        "predict-nano-tok12-prior",
        "predict-nano-tok12-prior-stage2",
        "predict-super",
    }
    # Each stage starts from an earlier stage's export; stages 4 and 5 from the shipped stage 2
    # (stage 3, plain further training, and stage 4 were not shipped); a line's stages 2+ from its stage 1.
    starts = {
        "2": "predict-nano",
        "3": "predict-nano-stage2",
        "4": "predict-nano-stage2",
        "5": "predict-nano-stage2",
    }
    for path in CONFIGS:
        recipe = load_predict_recipe(path)
        line, _, stage = path.stem.partition("-stage")  # e.g. predict-nano-tok12-cpu, "2"
        tier = line.removesuffix("-prior").removesuffix("-cpu").removesuffix("-tok12").removesuffix("-gpu")
        assert recipe.model.tier == tier
        flow_prior = recipe.model.overrides.get("flow_prior", "noise")
        # the noise-centred start (session 27): the CPU line's last stage and a GPU recipe over stage 12
        assert flow_prior == ("last_frame" if line.endswith("-prior") else "noise")
        # the CPU line's last DiT, taught to start from the last given frame
        if line.endswith("-prior") and "-gpu" not in line:
            assert recipe.tokenizer.path == "cv4x8x8-nano"
            first = "runs/predict-nano-tok12-cpu-stage2/export"  # its first stage from the plain line's last
            assert recipe.model.init_from == (f"runs/{line}/export" if stage else first)
        elif line.endswith("-cpu"):  # over another tokenizer's latents, from the shipped DiT
            assert recipe.tokenizer.path == "cv4x8x8-nano"
            # (stage 1 from the DiT shipped from session 15 to 26, the GPU-lease run's export)
            assert recipe.model.init_from == (
                f"runs/{line}/export" if stage else "runs/predict-nano-gpu/export"
            )
        elif stage:
            assert recipe.model.init_from == f"runs/{starts[stage]}/export"
        if "-gpu" in path.stem:  # from scratch, its cache small enough to carry to a lease
            assert recipe.model.init_from is None and recipe.cache.dtype == "int8"
        assert {d.scenario for d in recipe.data.datasets} == {"objects", "robot", "driving"}
        text = path.read_text()
        assert "Launch" in text and "worldfm train predict" in text
        tok = recipe.tokenizer.path  # a shipped tier name, or runs/<tokenizer tier>/export
        tok = re.sub(r"-stage\d+$", "", tok.split("/")[1] if "/" in tok else tok)
        recipe.dit_config(__import__("worldfm.tokenizers", fromlist=["x"]).get_tokenizer_config(tok), 4)


def test_shipped_sampling_defaults_are_the_recipes() -> None:
    """The shipped predict-nano's sampler/config.json is what its recipe exports (since session 27 the
    CPU line over the stage-12 latents with the "last_frame" flow prior; its export section is the
    GPU-lease recipe's, the shipped one's since session 15)."""
    from worldfm.world.diffusion.pipeline import SamplerConfig
    from worldfm.world.diffusion.pretrained import resolve_pipeline_path

    recipe = load_predict_recipe(CONFIGS[0].parent / "predict-nano-tok12-prior.yaml")
    saved = json.loads((resolve_pipeline_path("predict-nano") / "sampler" / "config.json").read_text())
    saved.pop("_class_name")
    assert SamplerConfig(**saved) == recipe.export.sampler_config() and saved["noise_scale"] == 0.5


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("model.tier", "predict-huge", "model.tier: unknown world model 'predict-huge'"),
        ("model.overrides.widht", 3, "unknown recipe key 'model.overrides.widht'"),
        ("model.overrides.action_dim", 3, "model.overrides.action_dim is set from the data"),
        ("model.overrides.latent_channels", 8, "set from the tokenizer"),
        ("model.overrides.heads", 3, "does not split into 3 heads"),
        ("conditioning.latent_frames", [0, 1, 3], "must leave a frame to predict"),
        ("conditioning.weights", [1, 1], "equal length"),
        ("conditioning.text_drop", 2.0, r"conditioning.text_drop must be in \[0, 1\]"),
        ("diffusion.timesteps", "cosine", "diffusion.timesteps must be one of"),
        ("model.overrides.sample_frames", 4, "gives 3 latent frames, but model.sample_frames is 4"),
        ("data.clip_length", 8, r"must be 1 \+ k\*4"),
        ("export.sampler", "ddim", "export.sampler must be one of"),
        ("export.steps", 0, "export.steps must be an integer >= 1"),
        ("export.consensus", 0, "consensus must be between 1"),
        ("train.lr", "fast", "train.lr must be of type float"),
        ("cache.latents", "yes", "cache.latents must be of type bool"),
        ("cache.dtype", "fp8", "cache.dtype must be one of float32, bfloat16, int8"),
        ("extra", {}, "unknown recipe key 'extra'"),
    ],
)
def test_recipe_errors(tmp_path: Path, dotted: str, value: Any, message: str) -> None:
    tok = save_tiny_tokenizer(tmp_path / "tok")
    with pytest.raises(ConfigError, match=message):
        parse_predict_recipe(edit(tiny_recipe(tmp_path, tok), dotted, value))


def test_export_consensus_reaches_the_sampler_config(tmp_path: Path) -> None:
    tok = save_tiny_tokenizer(tmp_path / "tok")
    recipe = parse_predict_recipe(edit(tiny_recipe(tmp_path, tok), "export.consensus", 4))
    assert recipe.export.sampler_config().consensus == 4
    assert parse_predict_recipe(tiny_recipe(tmp_path, tok)).export.sampler_config().consensus == 1


def test_size_mismatch_and_missing_tokenizer(tmp_path: Path) -> None:
    tok = save_tiny_tokenizer(tmp_path / "tok")
    recipe = tiny_recipe(tmp_path, tok)
    bad = edit(
        recipe, "data.datasets", [{"scenario": "objects", "episodes": 2, "frames": 9, "size": 32, "seed": 1}]
    )
    with pytest.raises(ConfigError, match=r"size 32 px gives 4 latent rows, but model\.sample_size is 2"):
        parse_predict_recipe(bad)
    missing = parse_predict_recipe(
        edit(recipe, "tokenizer.path", str(tmp_path / "none"))
    )  # checked at run time
    with pytest.raises(WorldfmError, match="Train the tokenizer first"):
        missing.tokenizer.load()
    nostats = parse_predict_recipe(
        edit(recipe, "tokenizer.path", str(save_tiny_tokenizer(tmp_path / "raw", stats=False)))
    )
    with pytest.raises(ConfigError, match="no latent_mean/latent_std"):
        nostats.tokenizer.load()


def test_task_loss_ignores_given_frames() -> None:
    from worldfm.text import TextEncoder, TextEncoderConfig
    from worldfm.world.diffusion.conditioning import frame_mask_from_counts
    from worldfm.world.diffusion.config import DiTConfig
    from worldfm.world.diffusion.dit import DiT

    torch.manual_seed(0)
    net = DiT(
        DiTConfig(
            latent_channels=4,
            width=32,
            depth=1,
            heads=2,
            adaln_lora_rank=4,
            action_dim=2,
            sample_frames=3,
            sample_size=2,
        )
    )
    task = PredictTask(
        None, TextEncoder(TextEncoderConfig(max_tokens=8)), ConditioningSpec(), DiffusionSpec(), action_dim=2
    )
    batch = {
        "latents": torch.randn(2, 4, 3, 2, 2),
        "caption": ["a ball", ""],
        "actions": torch.randn(2, 8, 2),
        "has_actions": torch.tensor([True, False]),
    }
    z0 = batch["latents"]
    cond = task.condition(batch, z0, torch.tensor([2, 0]))
    assert cond.text_mask[1].sum() == 0  # an empty caption is no caption
    noise, t = torch.randn_like(z0), torch.tensor([0.5, 0.5])
    base = task.flow_loss(net, z0, cond, t, noise)
    # At init the network predicts 0, so the loss is the mean squared target over the free frames.
    target = (noise - z0) ** 2
    assert torch.allclose(base, torch.stack([target[0, :, 2:].mean(), target[1].mean()]), atol=1e-6)
    # The "last_frame" prior: the flow starts from noise centred on the last given frame (sample 0
    # is given 2 of 3 frames, so frame 2 starts at frame 1's latents; sample 1 is given none).
    prior_task = PredictTask(
        None, task.text_encoder, ConditioningSpec(), DiffusionSpec(), action_dim=2, flow_prior="last_frame"
    )
    centred = (noise[0, :, 2] + z0[0, :, 1] - z0[0, :, 2]) ** 2
    expected = torch.stack([centred.mean(), target[1].mean()])
    assert torch.allclose(prior_task.flow_loss(net, z0, cond, t, noise), expected, atol=1e-6)
    loss, terms = task.loss(net, batch, 0, torch.Generator())
    assert loss.ndim == 0 and torch.isfinite(loss) and "given_frames" in terms
    assert task.batch_size(batch) == 2
    mask = frame_mask_from_counts([1, 1], 3)
    assert mask.sum() == 2
    # Validation measures action use: another clip's actions against each clip's own.
    assert "action_gain" not in task.validate(net, [batch])  # one clip with actions: no control
    torch.manual_seed(1)
    for param in net.parameters():  # a trained-looking net: the zero-initialised layers too
        torch.nn.init.normal_(param, std=0.2)
    both = {**batch, "has_actions": torch.tensor([True, True])}
    val = task.validate(net, [both])
    assert val["action_gain"] != 0.0 and val["clips"] == 2.0


def test_tiny_training_run_exports_a_loadable_pipeline(tmp_path: Path) -> None:
    from worldfm.world.diffusion.pipeline import Video2WorldPipeline

    tok = save_tiny_tokenizer(tmp_path / "tok")
    recipe = parse_predict_recipe(tiny_recipe(tmp_path / "data", tok))
    logs: list[str] = []
    summary = run_predict_recipe(recipe, tmp_path / "run", log=logs.append)
    assert summary["steps"] == 2 and summary["stop_reason"] == "max_steps"
    assert {"flow", "flow_t2w", "flow_v2w"} <= set(summary["val"])
    assert (tmp_path / "run" / CACHE_FILE).is_file()
    assert any("action_dim 4" in line for line in logs)  # robot actions (4) set the model's width
    export = Path(summary["export"])
    record = json.loads((export / "training_record.json").read_text())
    assert record["steps"] == 2 and record["parameters"] > 0
    pipe = Video2WorldPipeline.from_pretrained(export)
    assert pipe.transformer.config.action_dim == 4 and pipe.fps == 8.0
    video = np.full((5, 16, 16, 3), 100, np.uint8)
    out = pipe(video, frames=9, cond_frames=1, prompt="a box falls", actions=np.zeros((8, 4)))
    assert out.videos.shape == (1, 9, 16, 16, 3) and np.array_equal(out.videos[0, 0], video[0])
    # Resuming a finished run with more steps continues from the checkpoint and reuses the cache.
    more = run_predict_recipe(recipe.with_train(max_steps=3), tmp_path / "run", log=logs.append)
    assert more["steps"] == 3
    assert not any(line.startswith("encoding") for line in logs[-10:])
    # A second stage (model.init_from: the export) with a vanishing learning rate exports the same
    # weights (up to that step: Adam moves each weight by about the learning rate, a few float32 ulps),
    # here switching to the "last_frame" flow prior, which changes no weight, only where the flow starts.
    stage2 = tiny_recipe(tmp_path / "data", tok, max_steps=1, lr=1e-12)
    stage2 = edit(edit(stage2, "model.init_from", str(export)), "model.overrides.flow_prior", "last_frame")
    again = Path(run_predict_recipe(parse_predict_recipe(stage2), tmp_path / "stage2")["export"])
    first, second = (Video2WorldPipeline.from_pretrained(f).transformer for f in (export, again))
    assert (first.config.flow_prior, second.config.flow_prior) == ("noise", "last_frame")
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-10), name
    assert "Initial weights" in (again / "README.md").read_text()
    # An int8 cache: a float32 cache of the same clips is converted, not encoded again, and trains.
    int8 = parse_predict_recipe(edit(tiny_recipe(tmp_path / "data", tok, max_steps=1), "cache.dtype", "int8"))
    (tmp_path / "int8").mkdir()
    for name in (CACHE_FILE, f"val_{CACHE_FILE}"):
        shutil.copy(tmp_path / "run" / name, tmp_path / "int8" / name)
    logs.clear()
    assert run_predict_recipe(int8, tmp_path / "int8", log=logs.append)["steps"] == 1
    assert any(line.startswith("converting the float32 encodings") for line in logs)
    assert not any(line.startswith("encoding") for line in logs)
