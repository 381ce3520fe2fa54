"""Image encoders trained from scratch (no pretrained weights, no torchvision): a registry by name.

Every encoder maps images (N, 3, S, S) scaled to [-1, 1] -> features (N, out_dim), and is built as
``IMAGE_ENCODERS.get(name)(out_dim=..., width=...)``:

* ``conv``: four 3x3/5x5 conv layers (widths w, 2w, 4w, 4w; strides 2, 2, 2, 1), the small default
  sized for 2 CPU cores;
* ``resnet18``: the ResNet-18 shape (7x7 stem, max-pool, four stages of two basic blocks, widths
  w, 2w, 4w, 8w; ``width=64`` gives the standard widths), randomly initialised.

Both use GroupNorm rather than BatchNorm (batch statistics misbehave at batch 1 at inference and across
processes) and end in a spatial softmax: each of K learned feature maps becomes the expected (x, y)
image position of its activation, the keypoint pooling Diffusion Policy uses for manipulation, since it
keeps *where* things are, which global average pooling throws away.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hiwm.registry import Registry

IMAGE_ENCODERS = Registry("image encoder")
KEYPOINTS = 32


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups that divide ``channels``."""
    return nn.GroupNorm(math.gcd(8, channels), channels)


class SpatialSoftmax(nn.Module):
    """x: (N, C, h, w) -> (N, 2K): per keypoint map, the softmax-weighted mean (x, y) in [-1, 1]."""

    def __init__(self, channels: int, keypoints: int = KEYPOINTS):
        super().__init__()
        self.to_maps = nn.Conv2d(channels, keypoints, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.to_maps(x)  # (N, K, h, w)
        n, k, h, w = maps.shape
        weights = maps.flatten(2).softmax(dim=-1)  # (N, K, h*w)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        coords = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=-1)  # (h*w, 2)
        return (weights @ coords).reshape(n, 2 * k)


def _conv(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    """(N, c_in, s, s) -> (N, c_out, ceil(s / stride), ...) with GroupNorm and SiLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2), group_norm(c_out), nn.SiLU())


@IMAGE_ENCODERS.register("conv")
class ConvEncoder(nn.Module):
    """(N, 3, S, S) -> (N, out_dim). At S = 84 and w = 16 the last feature map is 64 x 11 x 11."""

    def __init__(self, out_dim: int, width: int = 16):
        super().__init__()
        w = width
        self.body = nn.Sequential(_conv(3, w, 5, 2), _conv(w, 2 * w, 3, 2), _conv(2 * w, 4 * w, 3, 2),
                                  _conv(4 * w, 4 * w, 3, 1))
        self.pool = SpatialSoftmax(4 * w)
        self.out = nn.Linear(2 * KEYPOINTS, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.pool(self.body(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with a skip; (N, c_in, s, s) -> (N, c_out, s / stride, s / stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, padding=1, bias=False)
        self.norm1 = group_norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, padding=1, bias=False)
        self.norm2 = group_norm(c_out)
        self.act = nn.ReLU()
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), group_norm(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm1(self.conv1(x)))
        return self.act(self.norm2(self.conv2(h)) + self.skip(x))


@IMAGE_ENCODERS.register("resnet18")
class ResNet18Encoder(nn.Module):
    """(N, 3, S, S) -> (N, out_dim); the final feature map is 8w x S/32 x S/32 (3 x 3 at S = 84)."""

    def __init__(self, out_dim: int, width: int = 64):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(3, w, 7, 2, padding=3, bias=False), group_norm(w), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, padding=1))
        stages, c_in = [], w
        for i, c_out in enumerate((w, 2 * w, 4 * w, 8 * w)):
            stages += [BasicBlock(c_in, c_out, 1 if i == 0 else 2), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.pool = SpatialSoftmax(8 * w)
        self.out = nn.Linear(2 * KEYPOINTS, out_dim)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.pool(self.stages(self.stem(x))))
