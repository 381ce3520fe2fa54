"""Min/max normalisation to [-1, 1], kept as buffers so the checkpoint carries its own statistics."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import nn

from hiwm.errors import HiwmError

# Below this range a dimension counts as constant: it is centred but not scaled, so an unseen value
# still maps to a finite number instead of blowing up by 1 / range.
MIN_RANGE = 1e-6
STAT_NAMES = ("min", "max", "mean", "std")


def _buffer_name(key: str) -> str:
    # Module and buffer names may not contain "."; LeRobot feature names do.
    return key.replace(".", "__")


class _FeatureStats(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        for name in STAT_NAMES:
            # NaN until set_stats: a policy used with no statistics fails loudly rather than silently.
            self.register_buffer(name, torch.full((dim,), float("nan")))


class Normalizer(nn.Module):
    """Per-feature min/max scaling: x -> 2 (x - min) / (max - min) - 1, and back.

    mean and std are stored too (not used for scaling) so the checkpoint keeps the full dataset
    statistics it was trained with.
    """

    def __init__(self, feature_dims: Mapping[str, int]):
        super().__init__()
        self.dims = dict(feature_dims)
        self.stats = nn.ModuleDict({_buffer_name(k): _FeatureStats(d) for k, d in self.dims.items()})

    def set_stats(self, stats: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """stats: key -> {"min", "max", "mean", "std"}: (D,) arrays. Keys not normalised here are ignored."""
        for key, dim in self.dims.items():
            if key not in stats:
                raise HiwmError(f"normalisation stats have no entry for {key!r} (have: {', '.join(sorted(stats))})")
            module = self.stats[_buffer_name(key)]
            for name in STAT_NAMES:
                if name not in stats[key]:
                    raise HiwmError(f"normalisation stats for {key!r} have no {name!r}")
                value = torch.as_tensor(np.asarray(stats[key][name], dtype=np.float32)).reshape(-1)
                if value.shape != (dim,):
                    raise HiwmError(f"normalisation stats {key!r}/{name}: expected ({dim},), got {tuple(value.shape)}")
                if not torch.isfinite(value).all():
                    raise HiwmError(f"normalisation stats {key!r}/{name} contain NaN or inf")
                getattr(module, name).copy_(value)

    def _centre_scale(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        module = self.stats[_buffer_name(key)]
        lo, hi = module.min, module.max
        if not torch.isfinite(lo).all():
            raise HiwmError(f"no normalisation stats for {key!r}: call policy.set_stats(stats) before use")
        span = hi - lo
        half = torch.where(span > MIN_RANGE, span / 2, torch.ones_like(span))
        return (hi + lo) / 2, half

    def normalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        """x: (..., D) raw -> (..., D) in [-1, 1] over the data's range."""
        centre, half = self._centre_scale(key)
        return (x - centre) / half

    def unnormalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        """x: (..., D) in [-1, 1] -> (..., D) raw."""
        centre, half = self._centre_scale(key)
        return x * half + centre
