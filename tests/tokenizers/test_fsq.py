"""FSQ: exact code <-> index round trips over the whole codebook, bounds, gradients."""

import itertools

import pytest
import torch

from worldfm.errors import ConfigError
from worldfm.tokenizers import FSQ


@pytest.mark.parametrize("levels", [(8, 8, 8, 5, 5, 5), (8, 5, 5), (7, 5, 5, 5, 5), (2, 3)])
def test_every_index_round_trips_exactly(levels: tuple[int, ...]) -> None:
    fsq = FSQ(levels)
    assert fsq.codebook_size == torch.tensor(levels).prod().item()
    indices = torch.arange(fsq.codebook_size)
    codes = fsq.indices_to_codes(indices, dim=-1)
    assert codes.shape == (fsq.codebook_size, len(levels))
    assert torch.equal(fsq.codes_to_indices(codes, dim=-1), indices)
    assert codes.unique(dim=0).shape[0] == fsq.codebook_size  # all codes distinct
    assert codes.min() >= -1 and codes.max() <= 1
    # Codes are fixed points of the quantiser: quantising a code's pre-image gives the code back.
    assert torch.equal(fsq.indices_to_codes(fsq.codes_to_indices(codes, dim=-1), dim=-1), codes)


def test_64k_codebook_is_cosmos_size() -> None:
    fsq = FSQ((8, 8, 8, 5, 5, 5))
    assert fsq.codebook_size == 64000
    assert fsq.bits_per_token == pytest.approx(15.9658, abs=1e-4)


def test_quantise_hits_every_level_and_indices_match() -> None:
    fsq = FSQ((8, 5, 3))
    z = torch.linspace(-6, 6, 2001).view(1, 1, -1).expand(1, 3, -1).contiguous()  # (B, d, N)
    codes, indices = fsq.quantize(z, dim=1)
    for i, levels in enumerate((8, 5, 3)):
        assert codes[0, i].unique().numel() == levels
    assert torch.equal(indices, fsq.codes_to_indices(codes, dim=1))
    assert torch.equal(fsq.indices_to_codes(indices, dim=1), codes)


def test_straight_through_gradient() -> None:
    fsq = FSQ((8, 8))
    z = torch.randn(2, 2, 5, requires_grad=True)
    fsq(z).sum().backward()
    assert z.grad is not None and torch.all(z.grad > 0)  # tanh' > 0 passes through the rounding


def test_all_combinations_of_small_levels() -> None:
    fsq = FSQ((3, 4))
    for a, b in itertools.product(range(3), range(4)):
        idx = torch.tensor([a + 3 * b])
        assert fsq.codes_to_indices(fsq.indices_to_codes(idx, dim=-1), dim=-1).item() == a + 3 * b


def test_errors() -> None:
    fsq = FSQ((8, 5))
    with pytest.raises(ConfigError, match="levels must be ints >= 2"):
        FSQ((8, 1))
    with pytest.raises(ConfigError, match=r"\[0, 40\)"):
        fsq.indices_to_codes(torch.tensor([40]))
    with pytest.raises(ConfigError, match="integer"):
        fsq.indices_to_codes(torch.tensor([1.0]))
    with pytest.raises(ConfigError, match="expects 2 channels"):
        fsq(torch.zeros(1, 3, 4))
