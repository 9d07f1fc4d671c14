"""World-model sample banks for refiner training: the jobs as a function of the spec, the recorded
frames against the pipeline's own output, chunked read-back and rebuild, and the recipe trained on a
bank (exact resume, warm start, the samples' validation scores)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "world" / "diffusion"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_helpers import tiny_pipeline
from test_refiner_recipe import tiny_recipe

from worldfm.errors import ConfigError
from worldfm.sim.registry import generate_episode
from worldfm.train.recipes import refiner_samples
from worldfm.train.recipes.refiner import parse_refiner_recipe, run_refiner_recipe
from worldfm.train.recipes.refiner_samples import (
    VAL_EPISODE_OFFSET,
    SamplesSpec,
    build_sample_bank,
    sample_jobs,
)
from worldfm.world.refiner import DetailRefiner


def spec(**changes: Any) -> SamplesSpec:
    base: dict[str, Any] = {
        "pipeline": "tiny",
        "clips": 3,
        "val_clips": 0,
        "scenarios": ("objects",),
        "cond_frames": (1,),
        "episode_frames": 13,
        "size": 32,
    }
    return SamplesSpec(**{**base, **changes})


def test_jobs_are_a_function_of_the_spec_with_disjoint_splits() -> None:
    s = spec(scenarios=("objects", "robot", "driving"), clips=12, val_clips=6, cond_frames=(1, 5, 9))
    train, val = sample_jobs(s, "train"), sample_jobs(s, "val")
    assert train == sample_jobs(s, "train") and len(train) == 12 and len(val) == 6
    assert [j.scenario for j in train[:3]] == ["objects", "robot", "driving"]
    assert {j.cond_frames for j in train} <= {1, 5, 9}
    assert not any(j.with_actions for j in train + val if j.scenario == "objects")
    assert all(j.episode >= VAL_EPISODE_OFFSET for j in val) and all(j.episode < 4 for j in train)
    assert {(j.scenario, j.episode_seed) for j in train}.isdisjoint(
        {(j.scenario, j.episode_seed) for j in val}
    )
    assert len({j.seed for j in train + val}) == 18
    assert sample_jobs(spec(val_clips=0), "val") == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pipeline": " "}, "samples.pipeline must name"),
        ({"clips": 0}, "samples.clips must be an integer >= 1"),
        ({"scenarios": ("mars",)}, "samples.scenarios must be some of"),
        ({"cond_frames": (0,)}, "samples.cond_frames must be integers in 1..12"),
        ({"share": 0.0}, "samples.share must be > 0"),
        ({"actions": 1.5}, r"samples.actions must be a number in \[0, 1\]"),
        ({"steps": 0}, "samples.steps must be an integer >= 1"),
    ],
)
def test_bad_specs_are_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        spec(**changes)


def test_bank_holds_the_frames_the_pipeline_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = tiny_pipeline(None)
    s = spec()
    bank = build_sample_bank(s, pipe, tmp_path, horizon=4, handoff="restore")
    assert bank is not None and len(bank) == 3 and pipe.restore_observer is None
    assert all(a.shape == (3, 4, 32, 32, 3) and a.dtype == np.uint8 for a in bank.arrays.values())
    job = sample_jobs(s, "train")[1]
    ep = generate_episode("objects", job.episode_seed, num_frames=13, size=32)
    out = pipe.generate(
        5, video=ep.frames[:1], cond_frames=1, seed=job.seed, fps=float(ep.fps), detail_restore=0.0
    )
    assert np.array_equal(bank.arrays["generated"][1], out.videos[0, 1:])  # one window: as decoded
    assert np.array_equal(bank.arrays["target"][1], ep.frames[1:5])
    assert (bank.arrays["given_ref"][1] == ep.frames[0]).all()
    gen, _, _, target = bank.frames([(1, [0, 2]), (0, [3])])
    assert gen.shape == (3, 32, 32, 3) and np.array_equal(target[1], ep.frames[3])

    def no_sampling(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("sampled again")

    monkeypatch.setattr(refiner_samples, "sample_clip", no_sampling)
    again = build_sample_bank(s, pipe, tmp_path, horizon=4, handoff="restore")
    assert again is not None and all(np.array_equal(again.arrays[k], bank.arrays[k]) for k in bank.arrays)
    with pytest.raises(AssertionError, match="sampled again"):  # made by something else: made again
        build_sample_bank(s, pipe, tmp_path, horizon=4, handoff="refiner x")
    chunk = tmp_path / "train-0000.npz"
    whole = chunk.read_bytes()
    for broken in (b"cut short", whole[: len(whole) // 2]):  # not an archive; a truncated one
        chunk.write_bytes(broken)
        with pytest.raises(AssertionError, match="sampled again"):
            build_sample_bank(s, pipe, tmp_path, horizon=4, handoff="restore")


def test_rolling_windows_record_each_window_reference(tmp_path: Path) -> None:
    pipe = tiny_pipeline(None)  # 9-frame windows: 5 given + 8 new frames take two
    bank = build_sample_bank(spec(clips=1, cond_frames=(5,)), pipe, tmp_path, horizon=8, handoff="restore")
    assert bank is not None
    job = sample_jobs(spec(clips=1, cond_frames=(5,)), "train")[0]
    ep = generate_episode("objects", job.episode_seed, num_frames=13, size=32)
    gref = bank.arrays["given_ref"][0]
    assert (gref[:4] == ep.frames[4]).all()  # the first window's reference: the last given frame
    assert not (gref[4:] == ep.frames[4]).all()  # the next one's: a generated frame


def samples_recipe(root: Path, pipeline: Path, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(tiny_recipe(root, str(pipeline)))
    data["samples"] = {
        "pipeline": str(pipeline),
        "clips": 4,
        "val_clips": 2,
        "scenarios": ["objects"],
        "cond_frames": [1, 5],
        "episode_frames": 13,
        "size": 32,
        "share": 0.5,
        **changes,
    }
    return data


def test_recipe_checks_the_samples_section(tmp_path: Path) -> None:
    folder = tmp_path / "pipe"
    assert parse_refiner_recipe(samples_recipe(tmp_path, folder)).samples.clips == 4
    assert parse_refiner_recipe(tiny_recipe(tmp_path, str(folder))).samples is None
    with pytest.raises(ConfigError, match=r"samples\.size 64 must equal the datasets' size 32"):
        parse_refiner_recipe(samples_recipe(tmp_path, folder, size=64))
    with pytest.raises(ConfigError, match=r"samples\.episode_frames must be >= .* \(9\)"):
        parse_refiner_recipe(samples_recipe(tmp_path, folder, episode_frames=8))
    with pytest.raises(ConfigError, match=r"samples\.zz"):
        parse_refiner_recipe(samples_recipe(tmp_path, folder, zz=1))


def test_recipe_on_samples_resumes_exactly_from_a_warm_start(tmp_path: Path) -> None:
    pipeline = tiny_pipeline(None).save_pretrained(tmp_path / "pipe", dtype="float32")
    first = run_refiner_recipe(
        parse_refiner_recipe(tiny_recipe(tmp_path / "sim", str(pipeline))), tmp_path / "s1"
    )
    data = samples_recipe(tmp_path / "sim", pipeline)
    data["model"]["init_from"] = first["export"]
    recipe = parse_refiner_recipe(data)
    full = run_refiner_recipe(recipe, tmp_path / "a", losses=True)
    part = run_refiner_recipe(recipe, tmp_path / "b", losses=True, until=1)
    rest = run_refiner_recipe(recipe, tmp_path / "b", losses=True)
    assert part["losses"] + rest["losses"] == full["losses"] and len(full["losses"]) == 3
    assert {"psnr_samples", "psnr_samples_restore", "gain_samples_db"} <= set(full["val"])
    assert full["val"] == rest["val"]
    assert sorted(p.name for p in (tmp_path / "a" / "samples").iterdir()) == [
        "train-0000.npz",
        "val-0000.npz",
    ]
    card = (Path(full["export"]) / "README.md").read_text()
    assert "World-model samples: 4 futures" in card and "Initial weights" in card
    assert DetailRefiner.from_pretrained(full["export"]).config.name == "tiny-refiner"


def test_samples_pipeline_must_share_the_tokenizer(tmp_path: Path) -> None:
    pipeline = tiny_pipeline(None).save_pretrained(tmp_path / "pipe", dtype="float32")
    other = tiny_pipeline(None, seed=1).save_pretrained(tmp_path / "other", dtype="float32")
    data = samples_recipe(tmp_path / "sim", other)
    data["tokenizer"]["source"] = str(pipeline)
    with pytest.raises(ConfigError, match="works over another tokenizer"):
        run_refiner_recipe(parse_refiner_recipe(data), tmp_path / "run")
