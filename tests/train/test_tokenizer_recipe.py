"""Tokenizer recipe: strict YAML parsing, the shipped configs, the task, and exact resume on real
sim clips with the real tokenizer."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from worldfm.errors import ConfigError, DatasetError
from worldfm.train import Trainer
from worldfm.train.recipes.data import build_clip_data, ensure_datasets
from worldfm.train.recipes.tokenizer import (
    TokenizerLossSpec,
    TokenizerTask,
    load_tokenizer_recipe,
    parse_tokenizer_recipe,
)

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "tokenizer").glob("*.yaml"))


def tiny_recipe(root: Path, **train: Any) -> dict[str, Any]:
    return {
        "model": {"tier": "cv4x8x8-nano", "overrides": {"widths": [16, 32]}},
        "data": {
            "root": str(root),
            "datasets": [{"scenario": "objects", "episodes": 3, "frames": 13, "size": 32, "seed": 1}],
            "clip_length": 9,
            "clip_step": 4,
            "val_episodes": 1,
            "workers": 1,
        },
        "loss": {"image_fraction": 0.5, "images_per_clip": 2},
        "train": {
            "max_steps": 3,
            "batch_size": 2,
            "warmup_steps": 1,
            "ckpt_every_minutes": 0,
            "seed": 5,
            **train,
        },
        "export": {"latent_stats_clips": 4},
    }


# Stages whose run was measured and not shipped: the next stage starts from the one before them.
UNSHIPPED_STAGES = {"cv4x8x8-nano": {9}}


def test_shipped_configs_parse() -> None:
    names = {p.stem for p in CONFIGS}
    assert {
        "cv4x8x8-nano",
        "dv4x8x8-nano",
        "cv8x16x16-nano",
        "cv4x8x8-super",
        "dv4x8x8-super",
        "cv8x16x16-super",
    } <= names
    for path in CONFIGS:
        recipe = load_tokenizer_recipe(path)
        tier, _, stage = path.stem.partition("-stage")
        assert recipe.tokenizer_config().name == tier
        if stage:  # stage N starts from the export of the last shipped stage before it
            start = max(k for k in range(1, int(stage)) if k not in UNSHIPPED_STAGES.get(tier, ()))
            previous = "" if start == 1 else f"-stage{start}"
            assert recipe.model.init_from == f"runs/{tier}{previous}/export"
        assert {d.scenario for d in recipe.data.datasets} == {"objects", "robot", "driving"}
        assert "Launch" in path.read_text()  # each says how to launch it


def edit(recipe: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(recipe)
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value
    return out


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("trian", {}, "unknown recipe key 'trian'"),
        ("train.lrr", 1.0, "unknown recipe key 'train.lrr'"),
        ("train.lr", "fast", "train.lr must be of type float"),
        ("train.lr", -1.0, "train.lr must be a number > 0"),
        ("train.batch_size", 2.5, "train.batch_size must be of type int"),
        ("train.precision", "fp8", "train.precision must be one of"),
        ("model.tier", "cv9x9x9-nano", "model.tier: unknown tokenizer 'cv9x9x9-nano'"),
        ("model.overrides.widthz", [8], "unknown recipe key 'model.overrides.widthz'"),
        ("model.overrides.widths", [16, 30], "model:"),
        ("data.datasets.0.scenario", "space", r"data.datasets\[0\]: scenario must be one of"),
        ("data.datasets.0.episods", 3, r"unknown recipe key 'data.datasets\[0\].episods'"),
        ("data.datasets", [], "data.datasets must be a non-empty list"),
        ("data.clip_length", 8, r"data.clip_length must be 1 \+ k\*4"),
        ("data.clip_length", 17, r"data.datasets\[0\].frames \(13\) is shorter than data.clip_length"),
        ("data.val_episodes", 3, "data.val_episodes"),
        ("loss.ssim", -1.0, "loss.ssim must be a number >= 0"),
        ("loss.mse", -1.0, "loss.mse must be a number >= 0"),
        ("loss.psnr", -1.0, "loss.psnr must be a number >= 0"),
        ("loss.image_fraction", 2.0, "loss.image_fraction must be in"),
        ("export.dtype", "int8", "export.dtype must be"),
        ("data", None, "missing the section 'data'"),
    ],
)
def test_bad_recipes_name_the_key(tmp_path: Path, dotted: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_tokenizer_recipe(edit(tiny_recipe(tmp_path), dotted, value))


def test_recipe_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(edit(tiny_recipe(tmp_path), "train.lrr", 1)))
    with pytest.raises(ConfigError, match=r"r\.yaml: unknown recipe key 'train.lrr'"):
        load_tokenizer_recipe(path)
    path.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_tokenizer_recipe(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_tokenizer_recipe(tmp_path / "missing.yaml")


def test_recipe_round_trips_to_a_plain_dict(tmp_path: Path) -> None:
    recipe = parse_tokenizer_recipe(tiny_recipe(tmp_path))
    again = parse_tokenizer_recipe(recipe.to_dict())
    assert again == recipe
    assert recipe.with_train(max_steps=9).train.max_steps == 9
    with pytest.raises(ConfigError, match=r"train\.max_steps"):
        recipe.with_train(max_steps=0)


@pytest.mark.parametrize(("term", "value"), [("mse", 10.0), ("psnr", 0.01)])
def test_later_terms_are_off_unless_set(tmp_path: Path, term: str, value: float) -> None:
    assert getattr(parse_tokenizer_recipe(tiny_recipe(tmp_path)).loss.weights, term) == 0.0
    recipe = parse_tokenizer_recipe(edit(tiny_recipe(tmp_path), f"loss.{term}", value))
    assert getattr(recipe.loss.weights, term) == value and recipe.loss.weights.l1 == recipe.loss.l1


def test_single_frame_batches() -> None:
    task = TokenizerTask(TokenizerLossSpec(image_fraction=1.0, images_per_clip=3))
    video = torch.arange(2 * 5, dtype=torch.float32).view(2, 1, 5, 1, 1).expand(2, 3, 5, 4, 4).contiguous()
    images = task.select_input(video, torch.Generator().manual_seed(0))
    assert images.shape == (6, 3, 1, 4, 4)
    # every picked frame is a real frame of its own clip
    for i, frame in enumerate(images[:, 0, 0, 0, 0].tolist()):
        assert int(frame) // 5 == i // 3
    never = TokenizerTask(TokenizerLossSpec(image_fraction=0.0))
    assert never.select_input(video, torch.Generator()) is video


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim")


def test_resume_is_exact_on_real_clips(tmp_path: Path, sim_root: Path) -> None:
    from worldfm.tokenizers import VideoTokenizer

    recipe = parse_tokenizer_recipe(tiny_recipe(sim_root))
    paths = ensure_datasets(recipe.data)
    train, val = build_clip_data(recipe.data, paths, seed=recipe.train.seed, keys=("video",))
    assert len(train) == 4 and len(val) == 1  # 2 episodes x starts (0, 4); 1 held-out clip

    def trainer(run: Path) -> Trainer:
        torch.manual_seed(0)
        model = VideoTokenizer(recipe.tokenizer_config())
        return Trainer(
            model, TokenizerTask(recipe.loss), train, recipe.train, run, val_data=val, log=lambda m: None
        )

    # 3 updates of 2 clips over 4 training clips: the resumed run starts inside epoch 0 and crosses into epoch 1.
    full = trainer(tmp_path / "a").fit()
    part = trainer(tmp_path / "b").fit(until=1)
    rest = trainer(tmp_path / "b").fit()
    assert [h["loss"] for h in part.history + rest.history] == [h["loss"] for h in full.history]
    assert full.val["psnr"] > 0 and full.val == rest.val


def test_existing_dataset_must_match_the_recipe(sim_root: Path) -> None:
    recipe = parse_tokenizer_recipe(tiny_recipe(sim_root))
    path = ensure_datasets(recipe.data)[0]
    wrong = tiny_recipe(sim_root)
    wrong["data"]["datasets"][0]["episodes"] = 5
    renamed = path.with_name(parse_tokenizer_recipe(wrong).data.datasets[0].folder_name)
    renamed.symlink_to(path)
    with pytest.raises(DatasetError, match="episodes 3 \\(recipe: 5\\)"):
        ensure_datasets(parse_tokenizer_recipe(wrong).data)


def test_init_from_starts_from_an_earlier_export(tmp_path: Path, sim_root: Path) -> None:
    from worldfm.tokenizers import VideoTokenizer
    from worldfm.train.recipes.tokenizer import run_tokenizer_recipe

    first = run_tokenizer_recipe(parse_tokenizer_recipe(tiny_recipe(sim_root, max_steps=2)), tmp_path / "s1")
    start = VideoTokenizer.from_pretrained(first["export"])
    # A second stage with a vanishing learning rate exports the weights it started from.
    stage2 = edit(tiny_recipe(sim_root, max_steps=1, lr=1e-12), "model.init_from", str(first["export"]))
    second = run_tokenizer_recipe(parse_tokenizer_recipe(stage2), tmp_path / "s2")
    again = VideoTokenizer.from_pretrained(second["export"])
    for (name, a), b in zip(start.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert "Initial weights" in (Path(second["export"]) / "README.md").read_text()
    # A different architecture is refused before any training, naming the source.
    wider = edit(stage2, "model.overrides.widths", [32, 32])
    with pytest.raises(ConfigError, match=r"model\.init_from .* does not fit .*other shape"):
        run_tokenizer_recipe(parse_tokenizer_recipe(wider), tmp_path / "s3")


def _first_stage(tmp_path: Path, sim_root: Path) -> tuple[str, Any]:
    """A 2-step tiny run into tmp_path/s1: (its export folder, the exported tokenizer)."""
    from worldfm.tokenizers import VideoTokenizer
    from worldfm.train.recipes.tokenizer import run_tokenizer_recipe

    first = run_tokenizer_recipe(parse_tokenizer_recipe(tiny_recipe(sim_root, max_steps=2)), tmp_path / "s1")
    return str(first["export"]), VideoTokenizer.from_pretrained(first["export"])


def _grow(start: Any, recipe: Any) -> tuple[Any, list[str]]:
    """`recipe`'s tokenizer warm-started from `start` as the recipe run does: (model in eval mode,
    the prefixes of the blocks it adds)."""
    from worldfm.tokenizers import VideoTokenizer
    from worldfm.train.recipes.run import warm_start
    from worldfm.train.recipes.tokenizer import added_blocks

    grown = VideoTokenizer(recipe.tokenizer_config())
    new = added_blocks(start.config, grown.config, "s1")
    warm_start(grown, start.state_dict(), "s1", new_prefixes=new)
    return grown.eval(), new


def _video() -> torch.Tensor:
    return torch.rand(1, 3, 9, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_decoder_only_stage_keeps_the_latents(tmp_path: Path, sim_root: Path) -> None:
    """model.freeze: [encoder] + a deeper decoder: the stage starts from the source's exact
    reconstructions, trains the decoder only, and exports the source's encoder and latent statistics."""
    from worldfm.tokenizers import VideoTokenizer
    from worldfm.train.recipes.tokenizer import run_tokenizer_recipe

    first, start = _first_stage(tmp_path, sim_root)
    stage = edit(tiny_recipe(sim_root, max_steps=3, lr=1e-2), "model.init_from", first)
    stage = edit(edit(stage, "model.freeze", ["encoder"]), "model.overrides.decoder_depth", 2)
    recipe = parse_tokenizer_recipe(stage)

    grown, new = _grow(start, recipe)
    assert new == ["decoder.blocks.0.1.", "decoder.blocks.1.1."]
    video = _video()
    with torch.no_grad():  # the added blocks start as the identity
        assert torch.equal(grown(video).reconstruction, start(video).reconstruction)

    done = VideoTokenizer.from_pretrained(run_tokenizer_recipe(recipe, tmp_path / "s2")["export"])
    before, after = start.state_dict(), done.state_dict()
    for name, tensor in before.items():
        if not name.startswith("decoder."):
            assert torch.equal(tensor, after[name]), name  # encoder bit-identical
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    assert done.config.blocks_per_decoder_level == 2
    assert done.config.latent_mean == start.config.latent_mean
    assert done.config.latent_std == start.config.latent_std
    assert torch.equal(done.encode(video), start.encode(video))
    assert "Encoder frozen" in (tmp_path / "s2" / "export" / "README.md").read_text()
    # A decoder shallower than the source's is refused before any training.
    shallow = edit(
        edit(stage, "model.init_from", str(tmp_path / "s2" / "export")), "model.overrides.decoder_depth", 1
    )
    with pytest.raises(ConfigError, match="can add blocks, not remove them"):
        run_tokenizer_recipe(parse_tokenizer_recipe(shallow), tmp_path / "s3")


def test_deeper_encoder_stage_starts_from_the_source(tmp_path: Path, sim_root: Path) -> None:
    """overrides.depth above the source's: the added encoder blocks start as the identity (same
    latents and reconstructions as the source), then train with the rest; a frozen deeper encoder
    and a shallower one are refused before any training."""
    from worldfm.tokenizers import VideoTokenizer
    from worldfm.train.recipes.tokenizer import run_tokenizer_recipe

    first, start = _first_stage(tmp_path, sim_root)
    stage = edit(tiny_recipe(sim_root, max_steps=2, lr=1e-2), "model.init_from", first)
    stage = edit(edit(stage, "model.overrides.depth", 2), "model.overrides.decoder_depth", 1)
    recipe = parse_tokenizer_recipe(stage)

    grown, new = _grow(start, recipe)
    assert new == ["encoder.blocks.0.1.", "encoder.blocks.1.1."]
    video = _video()
    with torch.no_grad():
        assert torch.equal(grown.encode(video), start.encode(video))
        assert torch.equal(grown(video).reconstruction, start(video).reconstruction)

    done = VideoTokenizer.from_pretrained(run_tokenizer_recipe(recipe, tmp_path / "s2")["export"])
    assert done.config.depth == 2 and done.config.blocks_per_decoder_level == 1
    after = done.state_dict()
    assert any(after[k].abs().sum() > 0 for k in after if k.startswith("encoder.blocks.0.1.conv2."))
    assert not torch.equal(done.encode(video), start.encode(video))  # the encoder trained

    frozen = parse_tokenizer_recipe(edit(stage, "model.freeze", ["encoder"]))
    with pytest.raises(ConfigError, match=r"deeper encoder .* would stay the identity"):
        run_tokenizer_recipe(frozen, tmp_path / "s3")
    shallow = edit(stage, "model.init_from", str(tmp_path / "s2" / "export"))
    with pytest.raises(ConfigError, match=r"2 encoder blocks per level; .* not remove them \(depth 1\)"):
        run_tokenizer_recipe(
            parse_tokenizer_recipe(edit(shallow, "model.overrides.depth", 1)), tmp_path / "s4"
        )


@pytest.mark.parametrize(
    ("freeze", "init_from", "message"),
    [
        (["encoder"], None, "model.freeze needs model.init_from"),
        (["decoder"], "x", "unknown part 'decoder'"),
        ("encoder", "x", "model.freeze must be of type a list of str"),
    ],
)
def test_freeze_errors(sim_root: Path, freeze: Any, init_from: Any, message: str) -> None:
    recipe = edit(edit(tiny_recipe(sim_root), "model.freeze", freeze), "model.init_from", init_from)
    with pytest.raises(ConfigError, match=message):
        parse_tokenizer_recipe(recipe)
