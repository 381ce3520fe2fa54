"""A conditional 1-D temporal U-Net: denoises an action chunk given a global conditioning vector.

x: (B, T, A) noisy actions, t: (B,) noise level, cond: (B, C) -> (B, T, A).
Convolutions run over time, so the network sees the chunk as a short signal with A channels;
the conditioning (observation history + noise-level embedding) enters every residual block by
FiLM (a per-channel scale and shift), the cheapest way to condition each resolution on it.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class NoiseLevelEmbedding(nn.Module):
    """t: (B,) integer noise levels -> (B, dim): sinusoidal features followed by a small MLP."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.Mish(), nn.Linear(4 * dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1))
        angles = t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))


def conv_norm_act(c_in: int, c_out: int, kernel: int, groups: int) -> nn.Sequential:
    """(B, c_in, T) -> (B, c_out, T)."""
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.GroupNorm(groups, c_out), nn.Mish())


class FiLMResBlock(nn.Module):
    """x: (B, c_in, T), cond: (B, C) -> (B, c_out, T). Two conv layers; FiLM after the first."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, kernel: int, groups: int):
        super().__init__()
        self.conv1 = conv_norm_act(c_in, c_out, kernel, groups)
        self.conv2 = conv_norm_act(c_out, c_out, kernel, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * c_out))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond)[:, :, None].chunk(2, dim=1)
        # (1 + scale) so a freshly initialised block starts close to unconditioned.
        h = self.conv1(x) * (1 + scale) + shift
        return self.conv2(h) + self.skip(x)


class ConditionalUnet1d(nn.Module):
    def __init__(
        self, action_dim: int, obs_cond_dim: int, down_dims: tuple[int, ...], kernel: int, groups: int, step_embed_dim: int
    ):
        super().__init__()
        self.step_embed = NoiseLevelEmbedding(step_embed_dim)
        cond_dim = step_embed_dim + obs_cond_dim
        widths = [action_dim, *down_dims]
        last = len(down_dims) - 1

        def block(c_in: int, c_out: int) -> FiLMResBlock:
            return FiLMResBlock(c_in, c_out, cond_dim, kernel, groups)

        self.down = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            resample = nn.Conv1d(c_out, c_out, 3, stride=2, padding=1) if i < last else nn.Identity()
            self.down.append(nn.ModuleList([block(c_in, c_out), block(c_out, c_out), resample]))
        self.mid = nn.ModuleList([block(down_dims[-1], down_dims[-1]), block(down_dims[-1], down_dims[-1])])
        self.up = nn.ModuleList()
        # Walk back up: double the length (halving the width), join the skip of that resolution, refine.
        for i in reversed(range(last)):
            c_high, c_low = down_dims[i + 1], down_dims[i]
            upsample = nn.ConvTranspose1d(c_high, c_low, 4, stride=2, padding=1)
            self.up.append(nn.ModuleList([upsample, block(2 * c_low, c_low), block(c_low, c_low)]))
        self.head = nn.Sequential(conv_norm_act(down_dims[0], down_dims[0], kernel, groups), nn.Conv1d(down_dims[0], action_dim, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, obs_cond: torch.Tensor) -> torch.Tensor:
        """x: (B, T, A), t: (B,), obs_cond: (B, C_obs) -> (B, T, A)."""
        cond = torch.cat([self.step_embed(t), obs_cond], dim=-1)
        h = x.transpose(1, 2)  # (B, A, T): channels first for Conv1d
        skips = []
        for res1, res2, downsample in self.down:
            h = res2(res1(h, cond), cond)
            skips.append(h)
            h = downsample(h)
        for res in self.mid:
            h = res(h, cond)
        skips.pop()  # the deepest level needs no skip: the middle blocks continue from it directly
        for upsample, res1, res2 in self.up:
            h = torch.cat([upsample(h), skips.pop()], dim=1)
            h = res2(res1(h, cond), cond)
        return self.head(h).transpose(1, 2)
