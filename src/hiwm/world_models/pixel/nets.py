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
    """E members' residual 3x3 conv blocks side by side (grouped convolutions, one call for all), each member's
    features scaled and shifted by the conditioning vector. x (B, E * ch, L, L), c (B, cond)."""

    def __init__(self, ch: int, cond: int, dilation: int, members: int):
        super().__init__()
        n = members * ch
        self.conv1 = nn.Conv2d(n, n, 3, padding=dilation, dilation=dilation, groups=members)
        self.conv2 = nn.Conv2d(n, n, 3, padding=1, groups=members)
        self.norm1, self.norm2 = nn.GroupNorm(members * min(8, ch), n), nn.GroupNorm(members * min(8, ch), n)
        self.film = nn.Linear(cond, 2 * n)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(c)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.norm1(self.conv1(x)) * (1 + scale) + shift)
        return x + self.conv2(F.silu(self.norm2(h)))


class LatentDynamics(nn.Module):
    """An ensemble of E members run as one network (grouped convolutions: one call per layer, not per member):
    history latents and conditioning maps (B, h*C + M, L, L), conditioning vector (B, V) -> each member's latent
    change (E, B, C, L, L). Dilations widen the view so a push reaches the object it moves."""

    def __init__(self, in_ch: int, out_ch: int, width: int, cond: int, dilations: tuple[int, ...], members: int):
        super().__init__()
        self.members, self.out_ch = members, out_ch
        self.inp = nn.Conv2d(members * in_ch, members * width, 3, padding=1, groups=members)
        self.blocks = nn.ModuleList(FiLMBlock(width, cond, d, members) for d in dilations)
        self.out = nn.Conv2d(members * width, members * out_ch, 3, padding=1, groups=members)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.repeat(1, self.members, 1, 1))
        for block in self.blocks:
            h = block(h, c)
        out = self.out(F.silu(h))  # (B, E * C, L, L)
        return out.unflatten(1, (self.members, self.out_ch)).transpose(0, 1)


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


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), _norm(cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), _norm(cout), nn.SiLU())


class KeypointPerception(nn.Module):
    """frame (B, 3, S, S) -> the task's object state, normalized (B, D_env), as a keypoint detector: a small U-Net
    draws one heatmap per point the object's state lists (``TaskSpec.env_points``); each heatmap's soft arg-max
    places its point in the picture to a fraction of a pixel, and a height, where the point has one, is the
    heatmap-weighted mean of a regression map. Dims no point covers come from an MLP over the points."""

    def __init__(self, size: int, out: int, width: int, points: tuple[tuple[int, int, int], ...],
                 view: tuple[float, float, float, float]):
        super().__init__()
        w = width
        self.points_spec, self.view = tuple(tuple(p) for p in points), tuple(view)
        covered = [d for first, n, dims in self.points_spec for d in range(first, first + n * dims)]
        if len(set(covered)) != len(covered) or any(not 0 <= d < out for d in covered):
            raise ValueError(f"env_points {points} must cover distinct dims below {out}")
        k = max(1, sum(n for _, n, _ in self.points_spec)) if covered else 16
        self.e1, self.e2 = _block(14, w), _block(w, 2 * w, 2)
        self.e3, self.e4 = _block(2 * w, 4 * w, 2), _block(4 * w, 4 * w, 2)
        self.u3, self.u2, self.u1 = _block(8 * w, 4 * w), _block(6 * w, 2 * w), _block(3 * w, w)
        self.heat, self.height = nn.Conv2d(w, k, 1), nn.Conv2d(w, k, 1)
        self.rest = [d for d in range(out) if d not in set(covered)]
        self.mlp = MLP(3 * k, len(self.rest), 256) if self.rest else None
        half = size // 2
        centers = (torch.arange(half) + 0.5) / half  # pixel centers, picture coordinates in [0, 1]
        ys, xs = torch.meshgrid(centers, centers, indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)

    def keypoints(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (B, 3, S, S) -> (points (B, K, 2) in picture coordinates [0, 1], heights (B, K))."""
        x = F.pixel_unshuffle(x, 2)
        e1 = self.e1(torch.cat([x, 2 * self.coords.expand(x.shape[0], -1, -1, -1) - 1], 1))
        e2 = self.e2(e1)
        e3 = self.e3(e2)
        e4 = self.e4(e3)
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
        h = self.u3(torch.cat([up(e4), e3], 1))
        h = self.u2(torch.cat([up(h), e2], 1))
        h = self.u1(torch.cat([up(h), e1], 1))
        p = self.heat(h).flatten(2).softmax(-1)  # (B, K, S/2 * S/2)
        return torch.einsum("bkn,cn->bkc", p, self.coords[0].flatten(1)), (p * self.height(h).flatten(2)).sum(-1)

    def forward(self, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """frames (B, 3, S, S), the object state's normalization (D_env,) each -> normalized state (B, D_env)."""
        uv, z = self.keypoints(x)
        left, right, top, bottom = self.view
        xy = torch.stack([left + (right - left) * uv[..., 0], top + (bottom - top) * uv[..., 1]], -1)
        out = torch.zeros(len(x), len(mean), dtype=x.dtype, device=x.device)
        k = 0
        for first, n, dims in self.points_spec:
            idx = first + dims * torch.arange(n, device=x.device)[:, None] + torch.arange(min(dims, 2), device=x.device)
            out[:, idx.flatten()] = ((xy[:, k:k + n, :dims] - mean[idx]) / std[idx]).flatten(1)
            if dims > 2:  # a height: regressed in normalized units
                out[:, idx[:, 0] + 2] = z[:, k:k + n]
            k += n
        if self.mlp is not None:
            out[:, self.rest] = self.mlp(torch.cat([uv.flatten(1), z], 1))
        return out
