"""The one observation path every backbone consumes: observation history -> conditioning features.

    lowdim: (B, T, F_low) normalised low-dimensional features (policy input features other than the image)
    images: (B, T, H, W, 3) uint8 RGB, or None when the policy has no image input
    -> features (B, T, F), F = F_low + image_features

Images are resized to ``image_size`` (when they come at another size), scaled from [0, 255] to
[-1, 1] (fixed, no dataset statistics: the encoder is trained from scratch), cropped to
``crop_fraction`` of their side -- at a random place per image when training (augmentation), in the
centre otherwise -- and encoded frame by frame by the configured image encoder (policies/vision.py).
A backbone therefore never sees an image; diffusion and flow condition on the same (B, T, F) features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hiwm.policies.vision import IMAGE_ENCODERS
from hiwm.tasks.base import IMAGE_KEY


def crop_size(image_size: int, crop_fraction: float) -> int:
    """Side of the square crop taken from an ``image_size`` image (at least 1 pixel)."""
    return max(1, min(image_size, round(crop_fraction * image_size)))


def prepare_images(images: torch.Tensor, size: int, crop: int, augment: bool) -> torch.Tensor:
    """images: (N, H, W, 3) uint8 -> (N, 3, crop, crop) float in [-1, 1].

    ``augment``: a random crop per image (offsets from torch's global RNG, which the training loop
    seeds); otherwise the centre crop, so inference is deterministic.
    """
    x = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (N, 3, H, W)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    if crop == size:
        return x
    n, span = x.shape[0], size - crop + 1
    if not augment:
        top = (size - crop) // 2
        return x[:, :, top:top + crop, top:top + crop]
    oy = torch.randint(span, (n,), device=x.device)
    ox = torch.randint(span, (n,), device=x.device)
    offs = torch.arange(crop, device=x.device)
    rows = (oy[:, None] + offs)[:, None, :, None]  # (N, 1, crop, 1)
    cols = (ox[:, None] + offs)[:, None, None, :]  # (N, 1, 1, crop)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(3, device=x.device)[None, :, None, None]
    return x[batch, chan, rows, cols]


class ObservationEncoder(nn.Module):
    """(lowdim (B, T, F_low), images (B, T, H, W, 3) uint8 | None) -> (B, T, F); see the module doc.

    Holds parameters only when the policy takes images, so a low-dimensional policy's checkpoint has
    exactly the tensors it had before images existed.
    """

    def __init__(self, input_features: list[str], lowdim_dim: int, image_size: int = 96, crop_fraction: float = 1.0,
                 encoder: str = "conv", image_features: int = 64, image_width: int = 16):
        super().__init__()
        self.lowdim_dim = lowdim_dim
        self.uses_images = IMAGE_KEY in input_features
        self.image_size, self.crop = image_size, crop_size(image_size, crop_fraction)
        self.image_features = image_features if self.uses_images else 0
        self.image = IMAGE_ENCODERS.get(encoder)(out_dim=image_features, width=image_width) if self.uses_images else None

    @property
    def out_dim(self) -> int:
        return self.lowdim_dim + self.image_features

    def forward(self, lowdim: torch.Tensor, images: torch.Tensor | None, augment: bool = False) -> torch.Tensor:
        if self.image is None:
            return lowdim
        b, t = images.shape[:2]
        x = prepare_images(images.reshape(b * t, *images.shape[2:]), self.image_size, self.crop, augment)
        feats = self.image(x).reshape(b, t, -1)
        return torch.cat([lowdim.to(feats.dtype), feats], dim=-1)
