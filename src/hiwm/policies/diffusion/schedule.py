"""The noise schedule: DDPM forward noising for training, deterministic DDIM steps for sampling.

alpha_bar(t) = prod_{s<=t} (1 - beta_s), with the squared-cosine schedule of Nichol & Dhariwal
(betas capped at 0.999 so the last level is not pure division by zero).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def squared_cosine_alpha_bar(num_steps: int, max_beta: float = 0.999) -> torch.Tensor:
    """-> (num_steps,) cumulative signal fractions alpha_bar, float64 for accuracy."""

    def f(u: float) -> float:
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = torch.tensor([min(1 - f((i + 1) / num_steps) / f(i / num_steps), max_beta) for i in range(num_steps)], dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


class NoiseSchedule(nn.Module):
    """Holds alpha_bar as a non-persistent buffer: derived from the config, so not saved in checkpoints."""

    def __init__(self, num_train_steps: int, prediction_type: str, clip_range: float | None):
        super().__init__()
        self.num_train_steps = num_train_steps
        self.prediction_type = prediction_type
        self.clip_range = clip_range
        self.register_buffer("alpha_bar", squared_cosine_alpha_bar(num_train_steps).float(), persistent=False)

    def _ab(self, t: torch.Tensor) -> torch.Tensor:
        """t: (B,) -> (B, 1, 1) alpha_bar, broadcastable over (B, T, A)."""
        return self.alpha_bar[t][:, None, None]

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x0, noise: (B, T, A), t: (B,) -> x_t = sqrt(ab) x0 + sqrt(1 - ab) noise."""
        ab = self._ab(t)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network is trained to output."""
        return noise if self.prediction_type == "epsilon" else x0

    def inference_timesteps(self, num_steps: int) -> list[int]:
        """Evenly spaced levels from high noise to 0, e.g. 100 train / 10 steps -> [90, 80, ..., 0]."""
        stride = self.num_train_steps // num_steps
        return [i * stride for i in reversed(range(num_steps))]

    def ddim_step(self, model_out: torch.Tensor, x_t: torch.Tensor, t: int, t_prev: int) -> torch.Tensor:
        """One deterministic DDIM step (eta = 0): x_t at level t -> x at level t_prev (-1 means clean)."""
        ab_t = self.alpha_bar[t]
        ab_prev = self.alpha_bar[t_prev] if t_prev >= 0 else torch.ones_like(ab_t)
        if self.prediction_type == "epsilon":
            eps = model_out
            x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
        else:
            x0 = model_out
            eps = (x_t - ab_t.sqrt() * x0) / (1 - ab_t).sqrt()
        if self.clip_range is not None:
            # Actions were normalised to [-1, 1]; clipping the clean estimate keeps samples in range.
            x0 = x0.clamp(-self.clip_range, self.clip_range)
        return ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps
