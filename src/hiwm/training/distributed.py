"""Multi-process training under ``torchrun``: detected from its environment, nothing to configure.

    torchrun --standalone --nproc_per_node 2 -m hiwm.cli train-policy --data D --out C

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE (and the rendezvous address) in every process it starts.
When WORLD_SIZE > 1 the training loop joins the process group (gloo on CPU, NCCL on CUDA) the first time
it runs and keeps it until the process exits; without those variables everything runs in one process
exactly as before. Only rank 0 writes checkpoints, logs and progress bars (``is_main_process``).
"""

from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from hiwm.errors import HiwmError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise HiwmError(f"environment variable {name}={raw!r} is not an integer (set by torchrun)") from None


def dist_info() -> DistInfo:
    """This process's place in the job: from the process group if joined, else from torchrun's variables."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
    return DistInfo(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0))


def is_main_process() -> bool:
    """True in a single-process run and on rank 0 of a multi-process one."""
    return dist_info().is_main


def init_distributed(device: str) -> tuple[DistInfo, torch.device]:
    """Join the torchrun process group if there is one; returns (info, the device this process trains on).

    CUDA: each process takes ``cuda:LOCAL_RANK`` and the NCCL backend; otherwise gloo on the CPU.
    """
    info = dist_info()
    dev = torch.device(device)
    if not info.enabled:
        return info, dev
    if not dist.is_available():
        raise HiwmError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if dev.type == "cuda":
        if torch.cuda.device_count() <= info.local_rank:
            raise HiwmError(f"rank {info.rank}: LOCAL_RANK {info.local_rank} but only {torch.cuda.device_count()} CUDA devices")
        dev = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        atexit.register(_shutdown)
        log.info("rank %d of %d joined the process group (%s)", info.rank, info.world_size, backend)
    return dist_info(), dev


def _shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar tensor over all processes (itself when running alone)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()
