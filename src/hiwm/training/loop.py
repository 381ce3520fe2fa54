"""The one training loop, shared by policies and world models.

Anything with ``forward(batch) -> (loss, info)`` trains here; data comes from a callable
``sample_batch(batch_size, generator) -> dict`` so the loop knows nothing about datasets.

Under ``torchrun`` (training/distributed.py) the same loop runs in every process: the model is wrapped
in DistributedDataParallel, ``batch_size`` stays the *global* batch (each of the N processes draws
batch_size / N windows, so a run's hyper-parameters mean the same at any process count), each rank
seeds its batch sampling and its model-side draws (noise, crops) with ``seed + rank``, logged losses are
averaged over ranks, and only rank 0 shows progress and calls ``on_log``. Gradients are averaged by DDP,
so every rank holds the same weights (and EMA) at the end; the caller saves on rank 0 only.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Collection, Mapping

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hiwm.errors import HiwmError
from hiwm.training.distributed import DistInfo, all_mean, init_distributed
from hiwm.training.ema import EMA

log = logging.getLogger(__name__)

SampleBatch = Callable[[int, torch.Generator], Mapping[str, Any]]
OnLog = Callable[[int, dict[str, float]], None]


@dataclass
class TrainConfig:
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-4
    weight_decay: float = 1e-6
    warmup_steps: int = 500
    grad_clip: float | None = 1.0  # max global grad norm; None = no clipping
    ema_decay: float | None = 0.995  # None = no EMA
    seed: int = 0
    device: str = "cpu"
    log_every: int = 100

    def validate(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.log_every < 1:
            raise HiwmError(f"train config: steps, batch_size and log_every must be >= 1 ({asdict(self)})")
        if self.lr <= 0 or self.warmup_steps < 0:
            raise HiwmError(f"train config: need lr > 0 and warmup_steps >= 0, got lr={self.lr}, warmup_steps={self.warmup_steps}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise HiwmError(f"train config: ema_decay must be in (0, 1) or None, got {self.ema_decay}")


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Multiplier of the base lr at optimizer step ``step`` (0-based): linear warm-up, then cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay on weight matrices and kernels only, not on biases and norm scales."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors and numpy arrays -> tensors on ``device``; anything else passes through."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        out[key] = value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
    return out


def _wrap(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """The module the loop calls: the model itself, or a DistributedDataParallel wrapper of it under torchrun.

    DDP broadcasts rank 0's parameters and buffers when it is built, so all ranks start identical.
    """
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _local_batch(cfg: TrainConfig, info: DistInfo) -> int:
    """This process's share of the global batch."""
    if cfg.batch_size % info.world_size:
        raise HiwmError(f"batch size {cfg.batch_size} is not divisible by the {info.world_size} training processes")
    return cfg.batch_size // info.world_size


@torch.no_grad()
def _snapshot(model: nn.Module, ema: EMA | None, step: int, fn: Callable[[int, nn.Module], None]) -> None:
    live = {n: p.detach().clone() for n, p in model.named_parameters()} if ema is not None else None
    if ema is not None:
        ema.copy_to(model)
    fn(step, model)
    if live is not None:
        for n, p in model.named_parameters():
            p.copy_(live[n])


def train(
    model: nn.Module, sample_batch: SampleBatch, cfg: TrainConfig, progress: bool = True, on_log: OnLog | None = None,
    snapshots: Collection[int] = (), on_snapshot: Callable[[int, nn.Module], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place for ``cfg.steps`` optimizer steps; returns a summary. After each step in
    ``snapshots``, ``on_snapshot(step, model)`` sees the model as it would be saved then (the EMA weights, with EMA
    on); training goes on from the weights it had.

    Returns {"history": [(step, mean loss since the last log)], "final_loss", "steps", "seconds",
    "it_per_s", "lr", "world_size"}. With EMA on, the model ends holding the EMA weights, so whatever is
    saved next is what was evaluated. A non-finite loss stops training with a HiwmError naming the step.
    Under torchrun see the module doc: the history is the mean over ranks, on every rank.
    """
    cfg.validate()
    info, device = init_distributed(cfg.device)
    local_batch = _local_batch(cfg, info)
    torch.manual_seed(cfg.seed + info.rank)  # noise, dropout, levels, crops drawn inside forward()
    data_gen = torch.Generator().manual_seed(cfg.seed + info.rank)  # batch sampling, independent of the model's draws
    progress = progress and info.is_main
    model.to(device).train()
    net = _wrap(model, info, device)
    optimizer = build_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg.warmup_steps, cfg.steps))
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay is not None else None

    history: list[tuple[int, float]] = []
    window: list[torch.Tensor] = []
    bar = tqdm(range(1, cfg.steps + 1), desc="train", disable=not progress, dynamic_ncols=True)
    start = time.perf_counter()
    for step in bar:
        loss, extra = net(to_device(sample_batch(local_batch, data_gen), device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip) if cfg.grad_clip is not None else None
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(model)
        if step in snapshots and on_snapshot is not None and info.is_main:
            _snapshot(model, ema, step, on_snapshot)
        window.append(loss.detach())
        if step % cfg.log_every == 0 or step == cfg.steps:
            # One host sync per log window, not per step (matters on CUDA).
            mean_loss = all_mean(torch.stack(window).float().mean()).item()
            window.clear()
            if not math.isfinite(mean_loss):
                raise HiwmError(f"training diverged: loss is {mean_loss} in the window ending at step {step}")
            history.append((step, mean_loss))
            metrics = {"loss": mean_loss, "lr": scheduler.get_last_lr()[0]}
            metrics |= {k: float(v) for k, v in extra.items() if k != "loss"}
            if grad_norm is not None:
                metrics["grad_norm"] = float(grad_norm)
            bar.set_postfix(loss=f"{mean_loss:.4f}")
            log.debug("step %d: %s", step, metrics)
            if on_log is not None and info.is_main:
                on_log(step, metrics)
    seconds = time.perf_counter() - start
    bar.close()
    if ema is not None:
        ema.copy_to(model)
    model.eval()
    if info.is_main:
        log.info("trained %d steps in %.1f s (%.2f it/s, %d process%s), final loss %.4f", cfg.steps, seconds,
                 cfg.steps / seconds, info.world_size, "es" if info.enabled else "", history[-1][1])
    return {
        "history": history,
        "final_loss": history[-1][1],
        "steps": cfg.steps,
        "seconds": seconds,
        "it_per_s": cfg.steps / seconds,
        "lr": scheduler.get_last_lr()[0],
        "world_size": info.world_size,
    }
