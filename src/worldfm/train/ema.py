"""Exponential moving average of a model's weights (the weights worldfm ships).

After update n (counting from 1) every floating-point parameter follows

    ema <- d_n * ema + (1 - d_n) * param,   d_n = min(decay, (1 + n) / (10 + n)) with warmup, else decay,

so early in training, when the raw weights move fast, the average forgets its random start quickly.
Buffers (e.g. norm statistics) and integer tensors are copied, not averaged.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from worldfm.errors import ConfigError


class EMA:
    """Keeps `module`, an eval-mode copy of the model holding the averaged weights (float32).

    model: the network being trained (its unwrapped module, not a DDP wrapper).
    decay: the long-run decay, in [0, 1).
    warmup: use the `(1 + n) / (10 + n)` ramp (see the module docstring).
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        if not 0.0 <= float(decay) < 1.0:
            raise ConfigError(f"EMA decay must be in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.num_updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self, num_updates: int | None = None) -> float:
        """Decay used by update number `num_updates` (1-based; default: the next update)."""
        n = self.num_updates + 1 if num_updates is None else int(num_updates)
        return min(self.decay, (1.0 + n) / (10.0 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of `model` (same architecture) into the average."""
        d = self.current_decay()
        self.num_updates += 1
        ema_params = dict(self.module.named_parameters())
        averaged, current = [], []
        for name, p in model.named_parameters():
            e = ema_params[name]
            if e.is_floating_point():
                averaged.append(e)
                current.append(p.detach().to(e.dtype))
            else:
                e.copy_(p)
        if averaged:
            torch._foreach_lerp_(averaged, current, 1.0 - d)  # e + (1 - d) * (p - e)
        ema_buffers = dict(self.module.named_buffers())
        for name, b in model.named_buffers():
            ema_buffers[name].copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "warmup": self.warmup,
            "num_updates": self.num_updates,
            "module": self.module.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.warmup = bool(state["warmup"])
        self.num_updates = int(state["num_updates"])
        self.module.load_state_dict(state["module"])

    def copy_to(self, model: nn.Module) -> None:
        """Load the averaged weights into `model` (same architecture)."""
        model.load_state_dict(self.module.state_dict())
