"""torchrun / DistributedDataParallel helpers: process group set-up from the environment, rank queries,
collective helpers that are no-ops in a single process, and a clean teardown.

torchrun sets `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR` and `MASTER_PORT`;
`init_distributed` reads them and starts a gloo (CPU) or nccl (CUDA) process group. Without them it
returns a single-process `DistInfo` and everything here degrades to plain local code.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from worldfm.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: global rank and size, rank on this node, and its torch device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def resolve_device(device: str | torch.device | None) -> torch.device:
    """ "cpu", "cuda", "cuda:N" or None (CUDA when available, else CPU) -> torch.device; CUDA must exist."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available on this machine")
    return dev


def init_distributed(device: str | torch.device | None = None) -> DistInfo:
    """Start the process group when launched by torchrun (WORLD_SIZE > 1), else describe one process.

    CUDA ranks each take GPU `LOCAL_RANK` and use nccl; CPU ranks use gloo and split the machine's
    cores evenly between the ranks of a node (so two ranks on two cores do not oversubscribe).
    Calling it again once the group exists only re-reads the environment.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    local_world_size = _env_int("LOCAL_WORLD_SIZE", world_size)
    if not 0 <= rank < world_size:
        raise ConfigError(f"RANK must be in [0, WORLD_SIZE={world_size}), got {rank}")
    dev = resolve_device(device)
    if dev.type == "cuda" and world_size > 1:
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if world_size > 1:
        if not dist.is_available():
            raise ConfigError("torch.distributed is not available in this torch build")
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        if dev.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, local_world_size)))
    return DistInfo(rank, world_size, local_rank, local_world_size, dev)


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's global rank (0 outside a process group)."""
    return dist.get_rank() if is_initialized() else 0


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if is_initialized():
        dist.barrier()


def cleanup(wait: bool = True) -> None:
    """Tear the process group down. The barrier first matters: without it one gloo rank can abort at
    exit while another still talks to it, and torchrun then reports failure. Pass `wait=False` when
    leaving on an error (the other ranks may never reach the barrier)."""
    if is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed(device: str | torch.device | None = None) -> Iterator[DistInfo]:
    """`with distributed("cpu") as info:` runs the body inside a process group (when under torchrun)."""
    info = init_distributed(device)
    try:
        yield info
    except BaseException:
        cleanup(wait=False)
        raise
    cleanup()


def _comm_device() -> torch.device:
    # nccl only moves CUDA tensors; gloo takes CPU ones.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over ranks (a new tensor on the input's device; a copy in one process)."""
    if not is_initialized():
        return values.detach().clone()
    out = values.detach().to(_comm_device(), copy=True)
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return (out / dist.get_world_size()).to(values.device)


def all_reduce_min(value: int) -> int:
    """Smallest `value` over ranks (e.g. batches per epoch, so every rank takes the same number)."""
    if not is_initialized():
        return int(value)
    t = torch.tensor([int(value)], dtype=torch.int64, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def broadcast_flag(flag: bool) -> bool:
    """Rank 0's `flag` on every rank: decisions from wall-clock time (stop, checkpoint now) must agree."""
    if not is_initialized():
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=_comm_device())
    dist.broadcast(t, src=0)
    return bool(t.item())
