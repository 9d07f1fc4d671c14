"""VideoTokenizer: shapes for many sizes and lengths, causality of encoder and decoder, DV indices."""

import pytest
import torch
from tokenizer_helpers import smooth_video, tiny_model

from worldfm.errors import ConfigError
from worldfm.tokenizers import TokenizerOutput, VideoTokenizer, get_tokenizer_config

TF, SF = 4, 8


@pytest.mark.parametrize("frames", [1, 1 + TF, 1 + 2 * TF, 1 + 3 * TF])
@pytest.mark.parametrize(("h", "w"), [(8, 8), (16, 24), (32, 8)])
def test_latent_shape_is_input_over_compression(kind: str, frames: int, h: int, w: int) -> None:
    model = tiny_model(kind)
    video = torch.rand(2, 3, frames, h, w) * 2 - 1
    with torch.no_grad():
        out = model(video)
    assert isinstance(out, TokenizerOutput)
    n = 1 + (frames - 1) // TF
    assert out.reconstruction.shape == video.shape
    assert out.latents.shape == (2, model.config.latent_dim, n, h // SF, w // SF)
    assert out.aux_loss.shape == () and out.aux_loss.item() == 0.0
    if kind == "discrete":
        assert out.indices is not None and out.indices.dtype == torch.int64
        assert out.indices.shape == (2, n, h // SF, w // SF)
        assert torch.equal(model.encode(video), out.indices)
        assert torch.equal(model.indices_to_latents(out.indices), out.latents)
        assert torch.allclose(model.decode(out.indices), out.reconstruction, atol=1e-5)
    else:
        assert out.indices is None
        assert torch.allclose(model.encode(video), out.latents)
        assert torch.allclose(model.decode(out.latents), out.reconstruction, atol=1e-5)


@pytest.mark.parametrize("name", ["cv4x8x8-nano", "dv4x8x8-nano", "cv8x16x16-nano"])
def test_nano_tier_shapes(name: str) -> None:
    torch.manual_seed(0)
    model = VideoTokenizer(get_tokenizer_config(name)).eval()
    tf, sf = model.config.temporal_factor, model.config.spatial_factor
    video = torch.rand(1, 3, 1 + tf, 2 * sf, sf) * 2 - 1
    with torch.no_grad():
        out = model(video)
    assert out.latents.shape == (1, model.config.latent_dim, 2, 2, 1)
    assert out.reconstruction.shape == video.shape


@pytest.mark.parametrize("k", [0, 1, 2])
def test_encoder_is_causal(kind: str, k: int) -> None:
    """Changing frames k*tf+1.. leaves latent frames 0..k unchanged (and changes frame k+1)."""
    model = tiny_model(kind)
    video = smooth_video(1, 1 + 3 * TF, 16, 16)
    changed = video.clone()
    changed[:, :, k * TF + 1 :] = torch.rand_like(changed[:, :, k * TF + 1 :]) * 2 - 1
    with torch.no_grad():
        a, b = model.encode_continuous(video), model.encode_continuous(changed)
    assert torch.allclose(a[:, :, : k + 1], b[:, :, : k + 1], atol=1e-6)
    assert not torch.allclose(a[:, :, k + 1], b[:, :, k + 1], atol=1e-4)


def test_first_latent_frame_is_the_image_alone(kind: str) -> None:
    """An image is a one-frame video: its latents equal the first latent frame of any video it starts."""
    model = tiny_model(kind)
    video = smooth_video(2, 1 + 2 * TF, 16, 24)
    with torch.no_grad():
        full = model.encode(video)
        image = model.encode(video[:, :, :1])
        prefix = model.encode(video[:, :, : 1 + TF])
    if kind == "discrete":
        assert torch.equal(full[:, :1], image) and torch.equal(full[:, :2], prefix)
    else:
        assert torch.allclose(full[:, :, :1], image, atol=1e-5)
        assert torch.allclose(full[:, :, :2], prefix, atol=1e-5)


@pytest.mark.parametrize("k", [0, 1])
def test_decoder_is_causal(k: int) -> None:
    """Changing latent frames k+1.. leaves decoded frames 0..k*tf unchanged."""
    model = tiny_model("continuous")
    z = torch.randn(1, 4, 4, 2, 2)
    changed = z.clone()
    changed[:, :, k + 1 :] += torch.randn_like(changed[:, :, k + 1 :])
    with torch.no_grad():
        a, b = model.decode(z), model.decode(changed)
    assert a.shape == (1, 3, 1 + 3 * TF, 16, 16)
    assert torch.allclose(a[:, :, : k * TF + 1], b[:, :, : k * TF + 1], atol=1e-6)
    assert not torch.allclose(a[:, :, k * TF + 1 :], b[:, :, k * TF + 1 :], atol=1e-4)


def test_deeper_decoder_adds_blocks_to_the_decoder_only() -> None:
    base = tiny_model("continuous")
    deeper = tiny_model("continuous", decoder_depth=2)
    assert [len(level) for level in deeper.decoder.blocks] == [2, 2]
    assert [len(level) for level in deeper.encoder.blocks] == [len(level) for level in base.encoder.blocks]
    video = smooth_video(1, 1 + 2 * TF, 16, 16)
    with torch.no_grad():
        out = deeper(video)
    assert out.reconstruction.shape == video.shape


def test_training_step_reduces_loss(kind: str) -> None:
    model = tiny_model(kind).train()
    video = smooth_video(2, 1 + TF, 16, 16)
    losses = []
    for _ in range(8):
        out = model(video)
        loss = (out.reconstruction - video).abs().mean() + out.aux_loss
        model.zero_grad()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
        with torch.no_grad():  # plain sign-SGD: torch.optim's first use imports torch._dynamo (seconds)
            for p in model.parameters():
                p -= 1e-3 * p.grad.sign()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_bad_inputs_raise() -> None:
    model = tiny_model("continuous")
    with pytest.raises(ConfigError, match=r"1 \+ k\*4 frames"):
        model.encode(torch.zeros(1, 3, 4, 8, 8))
    with pytest.raises(ConfigError, match="multiples of 8"):
        model.encode(torch.zeros(1, 3, 1, 12, 8))
    with pytest.raises(ConfigError, match="3 channels"):
        model.encode(torch.zeros(1, 1, 1, 8, 8))
    with pytest.raises(ConfigError, match="float tensor"):
        model.encode(torch.zeros(1, 3, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="continuous"):
        model.decode(torch.zeros(1, 1, 1, 1, dtype=torch.long))
    with pytest.raises(ConfigError, match="latents must be"):
        model.decode(torch.zeros(1, 5, 1, 1, 1))


def test_latent_normalisation_needs_stats() -> None:
    from worldfm.tokenizers.continuous import latent_statistics, with_latent_stats

    model = tiny_model("continuous")
    z = torch.randn(3, 4, 2, 2, 2) * torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1, 1) + 5
    with pytest.raises(ConfigError, match="no latent_mean"):
        model.normalize_latents(z)
    mean, std = latent_statistics([z[:2], z[2:]])
    model.config = with_latent_stats(model.config, mean, std)
    normed = model.normalize_latents(z)
    assert torch.allclose(normed.transpose(0, 1).flatten(1).mean(1), torch.zeros(4), atol=1e-5)
    assert torch.allclose(normed.transpose(0, 1).flatten(1).std(1, unbiased=False), torch.ones(4), atol=1e-4)
    assert torch.allclose(model.denormalize_latents(normed), z, atol=1e-5)


def test_group_norm_variant_is_causal() -> None:
    model = tiny_model("continuous", norm="group", norm_groups=4)
    video = smooth_video(1, 1 + 2 * TF, 16, 16)
    changed = video.clone()
    changed[:, :, TF + 1 :] = 0.0
    with torch.no_grad():
        a, b = model.encode(video), model.encode(changed)
    assert torch.allclose(a[:, :, :2], b[:, :, :2], atol=1e-6)
    assert not torch.allclose(a[:, :, 2], b[:, :, 2], atol=1e-4)


def test_bf16_autocast_forward_and_backward(kind: str) -> None:
    """The GPU training path: bf16 autocast keeps indices exact and gradients flowing in float32."""
    model = tiny_model(kind).train()
    video = smooth_video(1, 1 + TF, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(video)
    (out.reconstruction.float() - video).abs().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
    if kind == "discrete":
        assert out.indices is not None
        assert torch.equal(model.quantizer.codes_to_indices(out.latents.float()), out.indices)
