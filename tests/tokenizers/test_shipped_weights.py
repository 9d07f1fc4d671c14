"""The nano tokenizer weights shipped in the package: they load by name and still reconstruct.

The PSNR floor is a regression guard set a little below what the shipped weights measured on this
held-out clip when they were exported (see the model card in the weights folder).
"""

import json

import numpy as np
import pytest

import worldfm.sim  # noqa: F401  (sets the render backend before mujoco loads)
from worldfm.sim.registry import episode_seed, generate_episode
from worldfm.tokenizers import Tokenizer, VideoTokenizer
from worldfm.tokenizers.api import roundtrip_metrics
from worldfm.tokenizers.pretrained import SHIPPED_WEIGHTS_DIR

# tier -> PSNR floor (dB) on the held-out objects clip below (measured at export: 22.6, 21.8, 20.6)
SHIPPED = {"cv4x8x8-nano": 21.5, "dv4x8x8-nano": 20.8, "cv8x16x16-nano": 19.5}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_are_small_bf16_and_described(name: str) -> None:
    folder = SHIPPED_WEIGHTS_DIR / name
    assert (folder / "model.safetensors").stat().st_size < 8 * 2**20
    config = json.loads((folder / "config.json").read_text())
    assert config["_class_name"] == "VideoTokenizer"
    if config["kind"] == "continuous":  # statistics that the world models normalise latents with
        assert len(config["latent_mean"]) == len(config["latent_std"]) == config["latent_channels"]
        assert all(s > 0 for s in config["latent_std"])
    record = json.loads((folder / "training_record.json").read_text())
    assert record["steps"] > 0
    assert (folder / "README.md").read_text().strip()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_load_by_name_and_reconstruct(name: str) -> None:
    model = VideoTokenizer.from_pretrained(name)
    assert model.config.name == name
    episode = generate_episode("objects", episode_seed(9999, 0), num_frames=9, size=64)  # not in training
    tokenizer = Tokenizer.from_pretrained(name)
    encoded = tokenizer.encode(episode.frames, fps=episode.fps)
    decoded = tokenizer.decode(encoded)
    assert decoded.shape == episode.frames.shape and decoded.dtype == np.uint8
    scores = roundtrip_metrics(episode.frames, decoded, encoded)
    assert scores["psnr"] > SHIPPED[name]
