"""Device choice and multi-process training under ``torchrun`` (DistributedDataParallel).

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) everything here is a no-op on one process.
Under ``torchrun`` every process holds the whole dataset, draws the same permutation, and trains on its
slice of each global batch; gradients are averaged by DDP (NCCL on GPUs, gloo on CPU).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import InputError

log = logging.getLogger(__name__)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> the GPU when torch sees one, else the CPU; ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                "device='cuda' was asked for but torch sees no GPU (use device='cpu' or device='auto')"
            )
        return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    if name == "cpu":
        return torch.device("cpu")
    raise InputError(f"device={name!r} is not one of auto, cpu, cuda")


@dataclass
class DistContext:
    """This process's place in the job: rank, world size and device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def mean(self, value: float) -> float:
        """The mean of ``value`` over all processes (identical decisions everywhere)."""
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is true on any one of them."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self._comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    @property
    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def setup(device: str) -> DistContext:
    """Join the ``torchrun`` job if there is one (reading RANK/WORLD_SIZE/LOCAL_RANK) and pick the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world_size <= 1:
        return DistContext(device=resolved)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    initialized_here = False
    if not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=_dt.timedelta(minutes=30))
        initialized_here = True
    log.info("process %d of %d on %s", rank, world_size, resolved)
    return DistContext(rank, world_size, local_rank, resolved, initialized_here)


def teardown(ctx: DistContext) -> None:
    """Leave the process group if ``setup`` joined it."""
    if ctx.initialized_here and dist.is_initialized():
        dist.destroy_process_group()
