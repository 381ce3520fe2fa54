"""Exponential moving average of a model's parameters (the weights Diffusion Policy evaluates)."""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """shadow <- d * shadow + (1 - d) * param, with d warmed up as min(decay, (1 + n) / (10 + n)).

    The warm-up keeps the average from being dominated by the random initial weights in short runs.
    Only floating-point parameters are averaged; buffers (e.g. normalisation stats) are the model's own.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.shadow = {n: p.detach().clone() for n, p in model.named_parameters() if p.dtype.is_floating_point}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        pairs = [(self.shadow[n], p.detach()) for n, p in model.named_parameters() if n in self.shadow]
        # one fused call instead of a Python loop of small ops (it showed up in training profiles)
        torch._foreach_lerp_([s for s, _ in pairs], [p for _, p in pairs], 1.0 - d)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        for name, p in model.named_parameters():
            if name in self.shadow:
                p.copy_(self.shadow[name])
