"""Seeded model construction: weight initialisation that ``--seed`` decides.

Weights are drawn from torch's global RNG when a module is built; building under ``seeded(seed)`` makes them a
function of the seed (the same on every run and every torchrun rank) and leaves the caller's RNG stream as it
was, so seeding a model never shifts anything drawn after it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the block with torch's CPU RNG seeded by ``seed`` and restore the RNG afterwards (None: no change).

    Models are built on the CPU and moved to their device afterwards, so the CPU RNG is the one that matters.
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
