"""The pixel world model's networks: frame encoder and decoder, latent dynamics ensemble, the robot's own
dynamics, and the perception head that reads the object's state off a frame.

Shapes: frames (B, 3, S, S) in [0, 1]; latents (B, C, L, L) with L = S / 8; a history of h latents is
stacked on channels, (B, h * C, L, L).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch), ch)


class Encoder(nn.Module):
    """frame (B, 3, S, S) -> latent (B, C, S/8, S/8). The first halving is a space-to-depth reshuffle, so no
    convolution runs at the full resolution (what keeps a CPU step in milliseconds)."""

    def __init__(self, widths: tuple[int, ...], latent: int):
        super().__init__()
        w0, w1, w2 = widths
        self.net = nn.Sequential(
            nn.PixelUnshuffle(2), nn.Conv2d(12, w0, 3, padding=1), _norm(w0), nn.SiLU(),
            nn.Conv2d(w0, w1, 4, stride=2, padding=1), _norm(w1), nn.SiLU(),
            nn.Conv2d(w1, w2, 4, stride=2, padding=1), _norm(w2), nn.SiLU(),
            nn.Conv2d(w2, w2, 3, padding=1), _norm(w2), nn.SiLU(), nn.Conv2d(w2, latent, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """latent (B, C, L, L) -> frame (B, 3, 8L, 8L) in [0, 1]; the last doubling is a depth-to-space reshuffle."""

    def __init__(self, widths: tuple[int, ...], latent: int):
        super().__init__()
        w0, w1, w2 = widths
        self.net = nn.Sequential(
            nn.Conv2d(latent, w2, 3, padding=1), _norm(w2), nn.SiLU(),
            nn.Conv2d(w2, w2, 3, padding=1), _norm(w2), nn.SiLU(),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w2, w1, 3, padding=1), _norm(w1), nn.SiLU(),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w1, w0, 3, padding=1), _norm(w0), nn.SiLU(),
            nn.Conv2d(w0, 12, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(z))


class FiLMBlock(nn.Module):
    """A residual 3x3 conv block whose features are scaled and shifted by a conditioning vector."""

    def __init__(self, ch: int, cond: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.norm1, self.norm2 = _norm(ch), _norm(ch)
        self.film = nn.Linear(cond, 2 * ch)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(c)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.norm1(self.conv1(x)) * (1 + scale) + shift)
        return x + self.conv2(F.silu(self.norm2(h)))


class LatentDynamics(nn.Module):
    """One member: history latents and conditioning maps (B, h*C + M, L, L), conditioning vector (B, V)
    -> latent change (B, C, L, L). Dilations widen the view so a push reaches the object it moves."""

    def __init__(self, in_ch: int, out_ch: int, width: int, cond: int, dilations: tuple[int, ...]):
        super().__init__()
        self.inp = nn.Conv2d(in_ch, width, 3, padding=1)
        self.blocks = nn.ModuleList(FiLMBlock(width, cond, d) for d in dilations)
        self.out = nn.Conv2d(width, out_ch, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, c)
        return self.out(F.silu(h))


class MLP(nn.Module):
    """(B, n_in) -> (B, n_out), SiLU hidden layers."""

    def __init__(self, n_in: int, n_out: int, hidden: int, layers: int = 2):
        super().__init__()
        dims = [n_in] + [hidden] * layers + [n_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.silu(x)
        return x


class Perception(nn.Module):
    """frame (B, 3, S, S) -> the task's object state, normalized (B, D_env). Space-to-depth first, then stride-2
    convolutions with coordinate channels, so it can place things to a fraction of a pixel."""

    def __init__(self, size: int, out: int, width: int):
        super().__init__()
        ch, layers = 14, []
        for w in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(ch, w, 3, stride=2, padding=1), _norm(w), nn.SiLU(), nn.Conv2d(w, w, 3, padding=1),
                       _norm(w), nn.SiLU()]
            ch = w
        self.conv = nn.Sequential(*layers)
        side = size // 16
        self.head = MLP(ch * side * side, out, 256, layers=1)
        half = size // 2
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, half), torch.linspace(-1, 1, half), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pixel_unshuffle(x, 2)
        x = torch.cat([x, self.coords.expand(x.shape[0], -1, -1, -1)], dim=1)
        return self.head(self.conv(x).flatten(1))
