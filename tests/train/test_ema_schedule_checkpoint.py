"""EMA arithmetic, the warmup + cosine schedule's endpoints, and atomic checkpoint files."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from worldfm.errors import ConfigError, WorldfmError
from worldfm.train import (
    EMA,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    warmup_cosine,
)
from worldfm.train.checkpoint import capture_rng_state, restore_rng_state


def scalar_model(value: float) -> nn.Module:
    m = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(value)
    m.register_buffer("count", torch.tensor(0))
    return m


def test_ema_follows_the_formula_with_warmup() -> None:
    model = scalar_model(0.0)
    ema = EMA(model, decay=0.9, warmup=True)
    expected = 0.0
    for n, value in enumerate([1.0, 2.0, 3.0, 4.0, 5.0], start=1):
        with torch.no_grad():
            model.weight.fill_(value)
            model.count += 1
        d = min(0.9, (1 + n) / (10 + n))
        assert ema.current_decay() == pytest.approx(d)
        ema.update(model)
        expected = d * expected + (1 - d) * value
        assert ema.module.weight.item() == pytest.approx(expected, rel=1e-6)
        assert ema.module.count.item() == n  # buffers are copied, not averaged
    assert ema.num_updates == 5


def test_ema_without_warmup_and_its_state() -> None:
    model = scalar_model(2.0)
    ema = EMA(model, decay=0.5, warmup=False)
    with torch.no_grad():
        model.weight.fill_(4.0)
    ema.update(model)
    assert ema.module.weight.item() == pytest.approx(3.0)
    restored = EMA(scalar_model(0.0), decay=0.1)
    restored.load_state_dict(ema.state_dict())
    assert restored.module.weight.item() == 3.0 and restored.num_updates == 1 and restored.decay == 0.5
    target = scalar_model(0.0)
    restored.copy_to(target)
    assert target.weight.item() == 3.0
    assert not any(p.requires_grad for p in ema.module.parameters())
    with pytest.raises(ConfigError, match="decay"):
        EMA(model, decay=1.0)


def test_schedule_endpoints_and_shape() -> None:
    lr = [warmup_cosine(s, warmup_steps=10, total_steps=100, min_ratio=0.1) for s in range(120)]
    assert lr[0] == pytest.approx(0.1)  # first update: 1 / warmup
    assert lr[9] == 1.0 and lr[10] == 1.0  # end of warmup, start of decay
    assert lr[99] == pytest.approx(0.1)  # last update: exactly the floor
    assert all(v == pytest.approx(0.1) for v in lr[99:])
    assert all(a <= b for a, b in itertools.pairwise(lr[:10]))  # warmup rises
    assert all(a >= b for a, b in itertools.pairwise(lr[10:100]))  # decay falls
    mid = 10 + (99 - 10) / 2
    assert warmup_cosine(int(mid), 10, 100, 0.0) == pytest.approx(
        0.5 * (1 + math.cos(math.pi * (int(mid) - 10) / 89))
    )
    assert warmup_cosine(0, 0, 50, 0.0) == 1.0 and warmup_cosine(49, 0, 50, 0.0) == pytest.approx(
        0.0, abs=1e-12
    )
    assert [warmup_cosine(s, 1, 2, 0.1) for s in range(3)] == [1.0, 0.1, 0.1]  # no room for a decay
    with pytest.raises(ConfigError, match="total_steps"):
        warmup_cosine(0, 0, 0)


def test_checkpoints_are_atomic_and_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert latest_checkpoint(tmp_path) is None
    save_checkpoint({"step": 1, "w": torch.ones(3)}, tmp_path, 1)
    save_checkpoint({"step": 2, "w": torch.ones(3) * 2}, tmp_path, 2)

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 3}, tmp_path, 3)
    monkeypatch.undo()
    # Nothing of the failed write is visible, and the previous checkpoint is intact.
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "step-00000001.pt",
        "step-00000002.pt",
    ]
    assert latest_checkpoint(tmp_path).name == "step-00000002.pt"
    assert torch.equal(load_checkpoint(latest_checkpoint(tmp_path))["w"], torch.ones(3) * 2)
    # A stray temporary file (a crash mid-write in another process) is never taken for a checkpoint.
    (tmp_path / "checkpoints" / ".step-00000009.pt.abcd.tmp").write_bytes(b"junk")
    assert latest_checkpoint(tmp_path).name == "step-00000002.pt"
    save_checkpoint({"step": 4}, tmp_path, 4, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 4]


def test_unreadable_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "step-00000001.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WorldfmError, match="cannot read checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(WorldfmError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_round_trip() -> None:
    state = capture_rng_state()
    a = (random.random(), np.random.rand(), torch.rand(2))
    restore_rng_state(state)
    b = (random.random(), np.random.rand(), torch.rand(2))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
