"""The GPU lease kit's file handling: results split to fit a call's limits and rebuilt exactly here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[2] / "tools" / "gpu_lease"))

import lease_predict
import prepare_predict


def test_pack_and_collect_rebuild_the_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease_predict, "PART_BYTES", 1000)
    run, results = tmp_path / "run", tmp_path / "out"
    (run / "export" / "transformer").mkdir(parents=True)
    (run / "export" / "tokenizer").mkdir()
    weights = bytes(range(256)) * 10  # 2560 bytes: three parts
    (run / "export" / "transformer" / "model.safetensors").write_bytes(weights)
    (run / "export" / "transformer" / "config.json").write_text("{}")
    (run / "export" / "tokenizer" / "model.safetensors").write_bytes(b"tok")
    (run / "log.jsonl").write_text('{"step": 1}\n')
    results.mkdir()
    lease_predict.pack(run, results, {"steps": 1})
    files = sorted(p.name for p in results.iterdir())
    assert files == [
        "export.tar",
        "log.jsonl",
        "summary.json",
        "transformer.part0",
        "transformer.part1",
        "transformer.part2",
    ]
    assert len(files) <= 8 and all((results / f).stat().st_size <= 16 * 2**20 for f in files)

    export = lease_predict.collect(results, tmp_path / "home")
    assert (export / "transformer" / "model.safetensors").read_bytes() == weights
    assert (export / "tokenizer" / "model.safetensors").read_bytes() == b"tok"
    assert json.loads((tmp_path / "home" / "lease_summary.json").read_text())["steps"] == 1
    (results / "transformer.part1").write_bytes(b"x" * 1000)  # a damaged part is refused
    with pytest.raises(SystemExit, match="SHA-256"):
        lease_predict.collect(results, tmp_path / "home")
    assert (export / "transformer" / "model.safetensors").read_bytes() == weights  # the good copy stays


def test_minilm_int8_round_trip(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(8, 64, generator=gen) * torch.linspace(0.01, 3.0, 64)  # scales vary along a row
    state = {
        "layer.weight": weight,
        "layer.bias": torch.randn(8, generator=gen),
        "odd.weight": torch.randn(3, 5),
    }
    quantized = prepare_predict.quantize_rows(state, group=32)
    assert quantized["layer.weight"].dtype == torch.int8 and quantized["layer.weight.int8_scale"].shape == (
        8,
        2,
    )
    assert quantized["odd.weight"].dtype == torch.float32  # 5 columns do not split into groups of 32
    save_file(quantized, str(tmp_path / "q.safetensors"))
    prepare_predict.dequantize_minilm(tmp_path / "q.safetensors", tmp_path / "model.safetensors")
    back = load_file(str(tmp_path / "model.safetensors"))
    assert set(back) == set(state) and back["layer.weight"].dtype == torch.float32
    assert torch.equal(back["layer.bias"], state["layer.bias"]) and torch.equal(
        back["odd.weight"], state["odd.weight"]
    )
    # Within half a step of each group's own scale (float16-rounded, hence the small slack).
    step = weight.view(8, 2, 32).abs().amax(-1, keepdim=True) / 127
    err = (back["layer.weight"] - weight).view(8, 2, 32).abs()
    assert (err <= 0.5 * step * 1.01 + 1e-6).all()
