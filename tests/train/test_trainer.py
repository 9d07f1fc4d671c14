"""The generic training loop on a tiny stand-in network and in-memory data: exact resume, gradient
accumulation, logging, validation, checkpoint guards and errors."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from worldfm.errors import ConfigError
from worldfm.train import Trainer, TrainerConfig, TrainingError, latest_checkpoint, list_checkpoints
from worldfm.train.checkpoint import load_checkpoint
from worldfm.train.trainer import default_epoch_order, fitted_max_steps, step_generator


class TinyNet(nn.Module):
    """Stand-in network for the generic loop (the trainer never looks inside the model)."""

    def __init__(self, dropout: float = 0.1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.GroupNorm(2, 8),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Conv2d(8, 3, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Images:
    """A map-style dataset of `n` seeded 3x8x8 images, as dict items."""

    def __init__(self, n: int = 20, seed: int = 0) -> None:
        self.x = torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": self.x[i], "index": i}


class DenoiseTask:
    """Noise drawn from both the step generator and the global RNG, dropout in the model: every random
    stream the loop must restore on resume is exercised."""

    def loss(
        self, model: nn.Module, batch: Any, step: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict]:
        x = batch["x"]
        sigma = torch.rand((), generator=generator) * 0.5
        noisy = x + sigma * torch.randn_like(x)  # global RNG
        mse = (model(noisy) - x).square().mean()
        return mse, {"mse": mse, "sigma": sigma}

    def batch_size(self, batch: Any) -> int:
        return int(batch["x"].shape[0])

    def validate(self, model: nn.Module, batches: Iterable[Any]) -> dict[str, float]:
        errs = [
            (model(b["x"] + 0.1 * torch.randn_like(b["x"])) - b["x"]).square().mean().item() for b in batches
        ]
        return {"mse": sum(errs) / len(errs)}


def make(
    run_dir: Path, init_seed: int = 0, trainer_kwargs: dict[str, Any] | None = None, **overrides: Any
) -> Trainer:
    torch.manual_seed(init_seed)
    settings = dict(
        max_steps=6,
        batch_size=4,
        grad_accum=2,
        lr=1e-2,
        warmup_steps=2,
        log_every=2,
        ckpt_every_steps=0,
        ckpt_every_minutes=0,
        seed=3,
        ema_decay=0.9,
    )
    settings.update(overrides)
    return Trainer(
        TinyNet(),
        DenoiseTask(),
        Images(),
        TrainerConfig(**settings),
        run_dir,
        val_data=Images(6, seed=1),
        log=lambda m: None,
        **(trainer_kwargs or {}),
    )


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.state_dict().values()]


def test_resume_gives_bit_identical_losses(tmp_path: Path) -> None:
    straight = make(tmp_path / "a")
    full = straight.fit()
    assert full.step == 6 and full.stop_reason == "max_steps"

    first = make(tmp_path / "b").fit(until=3)
    assert first.step == 3 and first.stop_reason == "until"
    assert latest_checkpoint(tmp_path / "b").name == "step-00000003.pt"
    # A new process would build the model from scratch: a different init must not matter.
    second_trainer = make(tmp_path / "b", init_seed=123)
    second = second_trainer.fit()
    assert second.resumed_from == 3 and second.step == 6

    keys = ["loss", "mse", "sigma", "lr", "grad_norm"]
    got = [[h[k] for k in keys] for h in first.history + second.history]
    want = [[h[k] for k in keys] for h in full.history]
    assert got == want  # bit for bit: floats compared with ==
    for a, b in zip(params(straight.model), params(second_trainer.model), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(params(straight.ema.module), params(second_trainer.ema.module), strict=True):
        assert torch.equal(a, b)
    assert full.val == second.val


def test_resume_refuses_changed_settings_but_not_fields_added_at_their_default(tmp_path: Path) -> None:
    from worldfm.train.recipes.common import drop_later_defaults

    saved = {"model": {"width": 8, "decoder_depth": None}}  # written while the field was new
    make(tmp_path / "r", max_steps=4, trainer_kwargs={"fingerprint": saved}).fit(until=2)
    changed = {"model": {"width": 16}}
    with pytest.raises(ConfigError, match=r"cannot resume: settings \['model'\] differ"):
        make(tmp_path / "r", max_steps=4, trainer_kwargs={"fingerprint": changed}).fit()
    # Without the compatibility rule the added field alone stops the resume; with it, it resumes.
    same = {"model": {"width": 8}}
    with pytest.raises(ConfigError, match="cannot resume"):
        make(tmp_path / "r", max_steps=4, trainer_kwargs={"fingerprint": same}).fit()
    compat = {"fingerprint": same, "fingerprint_compat": drop_later_defaults}
    assert make(tmp_path / "r", max_steps=4, trainer_kwargs=compat).fit().resumed_from == 2


def test_resume_exact_with_dataloader_workers(tmp_path: Path) -> None:
    full = make(tmp_path / "a", num_workers=1, max_steps=4).fit()
    make(tmp_path / "b", num_workers=1, max_steps=4).fit(until=2)
    rest = make(tmp_path / "b", num_workers=1, max_steps=4).fit()
    assert [h["loss"] for h in full.history[2:]] == [h["loss"] for h in rest.history]


def test_checkpoint_holds_everything_for_resume(tmp_path: Path) -> None:
    make(tmp_path, max_steps=4, ckpt_every_steps=2, keep_checkpoints=5).fit()
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 4]
    state = load_checkpoint(latest_checkpoint(tmp_path))
    assert {"model", "ema", "optimizer", "scheduler", "rng", "step", "data", "config", "elapsed_s"} <= set(
        state
    )
    assert set(state["rng"][0]) >= {"python", "numpy", "torch"}
    # 20 items, batches of 4: 5 per epoch; 4 updates x 2 micro-batches = 8 consumed = epoch 1, batch 3.
    assert state["data"] == {"consumed_batches": 8, "epoch": 1, "batch_in_epoch": 3}
    assert state["step"] == 4 and state["ema"]["num_updates"] == 4
    assert state["scheduler"]["total_steps"] == 4


def test_grad_accumulation_matches_one_big_batch(tmp_path: Path) -> None:
    class Plain(DenoiseTask):
        def loss(self, model, batch, step, generator):  # deterministic: no noise
            mse = (model(batch["x"]) - batch["x"]).square().mean()
            return mse, {}

    def one_update(batch_size: int, accum: int, folder: str) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = TinyNet(dropout=0.0)
        cfg = TrainerConfig(
            max_steps=1,
            batch_size=batch_size,
            grad_accum=accum,
            warmup_steps=0,
            grad_clip=None,
            ckpt_every_minutes=0,
            seed=1,
        )
        trainer = Trainer(model, Plain(), Images(16), cfg, tmp_path / folder, log=lambda m: None)
        trainer.fit()
        return params(trainer.model)

    for a, b in zip(one_update(8, 1, "big"), one_update(4, 2, "accum"), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_logs_jsonl_console_and_validation(tmp_path: Path) -> None:
    lines: list[str] = []
    torch.manual_seed(0)
    cfg = TrainerConfig(max_steps=4, batch_size=4, log_every=2, val_every=2, ckpt_every_minutes=0, seed=0)
    result = Trainer(
        TinyNet(), DenoiseTask(), Images(), cfg, tmp_path, val_data=Images(4, 1), log=lines.append
    ).fit()
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "event" not in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert {"loss", "mse", "sigma", "lr", "grad_norm"} <= set(steps[0])
    assert [r["step"] for r in records if r.get("event") == "val"] == [2, 4]
    assert records[0]["event"] == "start" and records[-1]["event"] == "end"
    step_lines = [m for m in lines if m.startswith("step ")]
    assert (
        len(step_lines) == 2
        and "clips/s" in step_lines[0]
        and "eta" in step_lines[0]
        and "lr" in step_lines[0]
    )
    assert result.val["mse"] > 0 and len(result.history) == 4


def test_validation_does_not_change_training(tmp_path: Path) -> None:
    with_val = make(tmp_path / "a", val_every=1).fit()
    without = make(tmp_path / "b", val_every=0).fit()
    assert [h["loss"] for h in with_val.history] == [h["loss"] for h in without.history]


def test_max_minutes_stops_cleanly_with_a_checkpoint(tmp_path: Path) -> None:
    result = make(tmp_path, max_steps=1000, max_minutes=1e-9).fit()
    assert result.stop_reason == "max_minutes" and result.step == 0
    assert latest_checkpoint(tmp_path) is not None


def test_fitted_max_steps_fills_the_time_left_and_never_exceeds_max_steps() -> None:
    assert fitted_max_steps(1000, step=10, pace_s=0.5, remaining_s=100.0) == 210
    assert fitted_max_steps(100, step=10, pace_s=0.5, remaining_s=100.0) == 100
    assert fitted_max_steps(1000, step=10, pace_s=2.0, remaining_s=-5.0) == 11  # over budget: one more step


def test_fit_minutes_sizes_the_schedule_at_the_end_of_warmup_and_a_resume_keeps_it(tmp_path: Path) -> None:
    # A budget far too small for 1000 steps: the schedule ends right after warmup.
    first = make(tmp_path, max_steps=1000, warmup_steps=10, fit_minutes=1e-6)
    result = first.fit(until=11)
    assert result.step == 11 and first.config.max_steps == 11 and result.stop_reason == "max_steps"
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    fit = [e for e in events if e.get("event") == "fit"]
    assert len(fit) == 1 and fit[0]["step"] == 10 and fit[0]["max_steps"] == 11
    assert load_checkpoint(latest_checkpoint(tmp_path))["scheduler"]["total_steps"] == 11
    # The checkpoint's fitted schedule wins over the recipe's max_steps on resume: nothing more to do.
    again = make(tmp_path, max_steps=1000, warmup_steps=10, fit_minutes=1e-6)
    assert again.fit().step == 11 and again.config.max_steps == 11


def test_a_smaller_max_steps_stops_a_resumed_fit_minutes_run_and_keeps_its_schedule(tmp_path: Path) -> None:
    # `--max-steps N` on a resumed fit_minutes run stops at N (the checkpoint's fitted schedule, 1000
    # steps here, is kept for the learning rate) instead of running the schedule out.
    first = make(tmp_path / "run", max_steps=1000, warmup_steps=10, fit_minutes=60.0)
    assert first.fit(until=12).step == 12 and first.config.max_steps == 1000
    capped = make(tmp_path / "run", max_steps=14, warmup_steps=10, fit_minutes=60.0)
    result = capped.fit()
    assert (result.step, result.stop_reason, capped.config.max_steps) == (14, "until", 1000)
    assert load_checkpoint(latest_checkpoint(tmp_path / "run"))["scheduler"]["total_steps"] == 1000
    straight = make(tmp_path / "straight", max_steps=1000, warmup_steps=10, fit_minutes=60.0).fit(until=14)
    assert [h["loss"] for h in result.history] == [h["loss"] for h in straight.history[12:]]
    assert [h["lr"] for h in result.history] == [h["lr"] for h in straight.history[12:]]


def test_fit_minutes_with_a_large_budget_keeps_max_steps_and_the_same_losses(tmp_path: Path) -> None:
    plain = make(tmp_path / "a", max_steps=12, warmup_steps=10).fit()
    fitted = make(tmp_path / "b", max_steps=12, warmup_steps=10, fit_minutes=60.0).fit()
    assert fitted.step == 12
    assert [h["loss"] for h in plain.history] == [h["loss"] for h in fitted.history]


def test_fit_minutes_needs_a_warmup_to_time() -> None:
    with pytest.raises(ConfigError, match=r"fit_minutes needs train\.warmup_steps >= 10"):
        TrainerConfig(fit_minutes=5.0, warmup_steps=4)
    with pytest.raises(ConfigError, match="fit_minutes"):
        TrainerConfig(fit_minutes=-1.0)


def test_refuses_to_overwrite_or_mix_runs(tmp_path: Path) -> None:
    make(tmp_path, max_steps=2).fit()
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        make(tmp_path, max_steps=2).fit(resume=False)
    with pytest.raises(ConfigError, match=r"\['trainer'\]"):
        make(tmp_path, max_steps=2, batch_size=2).fit()


def test_non_finite_loss_is_an_error(tmp_path: Path) -> None:
    class Exploding(DenoiseTask):
        def loss(self, model, batch, step, generator):
            out = model(batch["x"]).sum() * float("nan")
            return out, {}

    torch.manual_seed(0)
    trainer = Trainer(
        TinyNet(),
        Exploding(),
        Images(),
        TrainerConfig(max_steps=2, batch_size=4),
        tmp_path,
        log=lambda m: None,
    )
    with pytest.raises(TrainingError, match="step 0"):
        trainer.fit()


def test_too_little_data_is_a_clear_error(tmp_path: Path) -> None:
    trainer = Trainer(
        TinyNet(), DenoiseTask(), Images(3), TrainerConfig(batch_size=4), tmp_path, log=lambda m: None
    )
    with pytest.raises(ConfigError, match="fewer than one batch of 4"):
        trainer.fit()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("lr", 0),
        ("batch_size", 0),
        ("precision", "fp8"),
        ("betas", (0.9,)),
        ("grad_clip", -1.0),
        ("ema_decay", 1.0),
    ],
)
def test_config_errors_name_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=rf"train\.{key}"):
        TrainerConfig(**{key: value})


def test_data_order_is_a_sharded_permutation() -> None:
    parts = [default_epoch_order(10, seed=1, epoch=2, rank=r, world_size=3) for r in range(3)]
    assert sorted(int(i) for p in parts for i in p) == list(range(10))
    assert not (default_epoch_order(10, 1, 2, 0, 1) == default_epoch_order(10, 1, 3, 0, 1)).all()
    a = torch.rand(3, generator=step_generator(0, 5, 1))
    assert torch.equal(a, torch.rand(3, generator=step_generator(0, 5, 1)))
    assert not torch.equal(a, torch.rand(3, generator=step_generator(0, 5, 0)))


def test_precision_auto_is_fp32_on_cpu_and_bf16_runs(tmp_path: Path) -> None:
    assert make(tmp_path / "a").precision == "fp32"
    result = make(tmp_path / "b", precision="bf16", max_steps=2).fit()
    assert result.step == 2 and all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)
