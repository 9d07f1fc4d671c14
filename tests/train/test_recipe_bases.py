"""Recipe files built on a `base:` recipe (recipes/common.py `load_yaml`, `merge_over`), the shipped
weights' training records against the recipe files they name, and `worldfm train ... --print-recipe`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from worldfm.cli.main import app
from worldfm.errors import ConfigError
from worldfm.train.recipes.ar import load_ar_recipe
from worldfm.train.recipes.common import load_yaml, merge_over
from worldfm.train.recipes.predict import load_predict_recipe
from worldfm.train.recipes.refiner import load_refiner_recipe
from worldfm.train.recipes.tokenizer import load_tokenizer_recipe

ROOT = Path(__file__).resolve().parents[2]
RECORDS = [  # the shipped weights trained from a recipe file (the text guard's record holds its recipe whole)
    p
    for p in sorted((ROOT / "src" / "worldfm" / "hub" / "weights").glob("**/training_record.json"))
    if "recipe_file" in json.loads(p.read_text(encoding="utf-8"))
]
LOADERS = {
    "tokenizer": load_tokenizer_recipe,
    "predict": load_predict_recipe,
    "ar": load_ar_recipe,
    "refiner": load_refiner_recipe,
}
# Recorded values a recipe file may differ from, and why: the CPU thread count is a machine setting
# (`--threads`) for every record; and two recipes now pin the tokenizer run folder their record names by its
# hub name (the hub's cv4x8x8-nano was stage 4 when they ran; it has moved on since).
MAY_DIFFER = {("train", "threads")}
PINNED_SINCE = {
    "configs/predict/predict-nano-gpu.yaml": {("tokenizer", "path")},
    "configs/refiner/refiner-predict-nano-tokenizer4-stage2.yaml": {("tokenizer", "source")},
}


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_merge_over_merges_mappings_at_any_depth_and_replaces_everything_else() -> None:
    base = {"model": {"tier": "a", "overrides": {"depth": 2, "widths": [8, 16]}}, "train": {"lr": 1e-3}}
    child = {"model": {"overrides": {"depth": 3, "widths": [4]}}, "train": {"seed": 7}, "export": None}
    merged = merge_over(base, child)
    assert merged == {
        "model": {"tier": "a", "overrides": {"depth": 3, "widths": [4]}},  # the list is replaced whole
        "train": {"lr": 1e-3, "seed": 7},
        "export": None,
    }
    assert base["model"]["overrides"] == {"depth": 2, "widths": [8, 16]}  # inputs untouched
    merged["train"]["lr"] = 5.0
    assert base["train"]["lr"] == 1e-3  # the result shares nothing with them


def test_base_chain_resolves_relative_to_each_file(tmp_path: Path) -> None:
    (tmp_path / "stages").mkdir()
    write(tmp_path / "one.yaml", {"model": {"tier": "t", "overrides": {"depth": 2}}, "train": {"lr": 1.0}})
    write(tmp_path / "stages" / "two.yaml", {"base": "../one.yaml", "train": {"lr": 0.5, "seed": 1}})
    three = write(
        tmp_path / "stages" / "three.yaml", {"base": "two.yaml", "model": {"overrides": {"depth": 3}}}
    )
    assert load_yaml(three) == {
        "model": {"tier": "t", "overrides": {"depth": 3}},
        "train": {"lr": 0.5, "seed": 1},
    }
    assert "base" not in load_yaml(tmp_path / "stages" / "two.yaml")


def test_bad_bases_are_refused_naming_the_file(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", {"base": "b.yaml"})
    write(tmp_path / "b.yaml", {"base": "a.yaml", "train": {}})
    with pytest.raises(
        ConfigError, match=r"b\.yaml: recipe bases form a loop: .*a\.yaml -> .*b\.yaml -> .*a\.yaml"
    ):
        load_yaml(a)
    itself = write(tmp_path / "self.yaml", {"base": "self.yaml"})
    with pytest.raises(ConfigError, match="form a loop"):
        load_yaml(itself)
    missing = write(tmp_path / "missing.yaml", {"base": "nowhere.yaml"})
    with pytest.raises(ConfigError, match=r"missing\.yaml: its base .*nowhere\.yaml does not exist"):
        load_yaml(missing)
    for bad in (3, "", ["a.yaml"]):
        wrong = write(tmp_path / "wrong.yaml", {"base": bad})
        with pytest.raises(ConfigError, match=r"wrong\.yaml: base must be the path of another recipe file"):
            load_yaml(wrong)
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n", encoding="utf-8")
    on_broken = write(tmp_path / "on_broken.yaml", {"base": "broken.yaml"})
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_yaml(on_broken)


def test_a_recipe_on_a_base_parses_like_the_same_recipe_written_out(tmp_path: Path) -> None:
    full = load_yaml(ROOT / "configs" / "tokenizer" / "cv4x8x8-nano-stage11.yaml")
    stage = write(
        tmp_path / "stage.yaml",
        {"base": str(ROOT / "configs" / "tokenizer" / "cv4x8x8-nano-stage11.yaml"), "train": {"lr": 1e-4}},
    )
    written_out = write(tmp_path / "written_out.yaml", merge_over(full, {"train": {"lr": 1e-4}}))
    assert load_tokenizer_recipe(stage).to_dict() == load_tokenizer_recipe(written_out).to_dict()
    assert load_tokenizer_recipe(stage).train.lr == 1e-4


@pytest.mark.parametrize("record_path", RECORDS, ids=lambda p: p.parent.relative_to(p.parents[2]).as_posix())
def test_shipped_weights_are_reproducible_from_the_recipe_file_their_record_names(record_path: Path) -> None:
    """Every recipe value a shipped training record holds is what its recipe file (bases merged) says
    today, so the files still rerun those trainings (keys added to recipes later are not in old records)."""
    record = json.loads(record_path.read_text(encoding="utf-8"))
    recipe_file = ROOT / record["recipe_file"]
    now = LOADERS[recipe_file.parent.name](recipe_file).to_dict()
    for section, values in record["recipe"].items():
        if not isinstance(values, dict):
            assert now[section] == values, section
            continue
        for key, value in values.items():
            if (section, key) not in MAY_DIFFER | PINNED_SINCE.get(record["recipe_file"], set()):
                assert now[section][key] == value, f"{record['recipe_file']}: {section}.{key}"


def test_print_recipe_shows_the_merged_recipe_with_options_applied_and_trains_nothing(tmp_path: Path) -> None:
    config = ROOT / "configs" / "tokenizer" / "cv4x8x8-nano-stage12.yaml"
    out = tmp_path / "run"
    command = ["train", "tokenizer", "--config", str(config), "--out", str(out), "--threads", "3"]
    result = CliRunner().invoke(app, [*command, "--print-recipe"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown == load_tokenizer_recipe(config).with_train(threads=3).to_dict()
    assert shown["model"]["overrides"] == {"depth": 6, "decoder_depth": 7}  # from the file itself
    assert shown["loss"]["mse"] == 10.0  # from its base
    assert not out.exists()


def test_print_recipe_of_a_bad_recipe_is_a_clear_error(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", {"base": "gone.yaml"})
    result = CliRunner().invoke(app, ["train", "predict", "--config", str(bad), "--print-recipe"])
    assert result.exit_code != 0
    assert "its base" in result.output and "gone.yaml" in result.output


def test_resolved_recipes_are_pinned() -> None:
    """Every recipe resolves (through its `base:` chain) to the mapping pinned when it was last changed on
    purpose: an edit to one recipe that silently changes the recipes built on it fails here, naming them
    (after an intended change: `python tools/pin_recipes.py`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pin_recipes", ROOT / "tools" / "pin_recipes.py")
    assert spec is not None and spec.loader is not None
    pin_recipes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pin_recipes)
    pinned = json.loads(pin_recipes.PINS.read_text(encoding="utf-8"))
    now = pin_recipes.resolved_digests()
    changed = sorted(k for k in set(now) | set(pinned) if now.get(k) != pinned.get(k))
    assert not changed, (
        f"recipes resolve differently from their pins (run python tools/pin_recipes.py if intended): {changed}"
    )
