"""The pixel model's perception head is a keypoint detector: it places each point the object's state lists
(``TaskSpec.env_points``) in the picture, so its error is a fraction of a pixel, not a regression's guess."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hiwm.tasks import TASKS, task_class
from hiwm.tasks.controls import action_layout
from hiwm.training import TrainConfig, train
from hiwm.world_models.pixel.nets import KeypointPerception

SIZE = 32


def _dots(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n frames (n, 3, S, S) each with a soft bright dot at a random sub-pixel place, and where it is (n, 2) in
    picture units [0, 1]."""
    where = 0.15 + 0.7 * torch.rand(n, 2, generator=gen)
    c = (torch.arange(SIZE) + 0.5) / SIZE
    d2 = (c[None, None, :] - where[:, 0, None, None]) ** 2 + (c[None, :, None] - where[:, 1, None, None]) ** 2
    dot = torch.exp(-d2 / (2 * (1.2 / SIZE) ** 2))
    return dot[:, None].expand(-1, 3, -1, -1).contiguous(), where


class _Fit(torch.nn.Module):
    def __init__(self, head):
        super().__init__()
        self.head = head
        self.register_buffer("mean", torch.full((2,), 0.5))
        self.register_buffer("std", torch.full((2,), 0.2))

    def forward(self, batch):
        pred = self.head(batch["frames"], self.mean, self.std)
        return ((pred - (batch["env"] - self.mean) / self.std) ** 2).mean(), {}


def test_the_head_places_a_point_to_a_fraction_of_a_pixel():
    torch.manual_seed(0)
    head = KeypointPerception(SIZE, 2, 8, ((0, 1, 2),), (0.0, 1.0, 0.0, 1.0))
    fit = _Fit(head)
    train(fit, lambda n, g: dict(zip(("frames", "env"), _dots(n, g))),
          TrainConfig(steps=150, batch_size=32, lr=3e-3, warmup_steps=10, ema_decay=None, log_every=150, seed=0),
          progress=False)
    frames, where = _dots(256, torch.Generator().manual_seed(1))
    with torch.no_grad():
        seen = head(frames, fit.mean, fit.std) * fit.std + fit.mean
    error_px = ((seen - where).norm(dim=1) * SIZE).median().item()
    assert error_px < 0.5, f"median error {error_px:.2f} px"


@pytest.mark.parametrize("task", TASKS.names())
def test_every_task_s_points_are_its_object_state_in_the_picture(task):
    """The declared points cover the object's state once each, and an initial scene's points lie in the picture."""
    cls = task_class(task)
    spec, view = cls.spec_, action_layout(cls.spec_).view
    KeypointPerception(96, spec.env_dim, 4, spec.env_points, view)  # distinct dims below env_dim, or it raises
    assert sum(n * d for _, n, d in spec.env_points) == spec.env_dim
    env = cls.observe_lowdim(cls.initial_scene(100_000)[None])["observation.environment_state"][0]
    left, right, top, bottom = view
    for first, n, dims in spec.env_points:
        pts = env[first:first + n * dims].reshape(n, dims)
        u, v = (pts[:, 0] - left) / (right - left), (pts[:, 1] - top) / (bottom - top)
        assert np.all((u > 0) & (u < 1) & (v > 0) & (v < 1)), f"{task}: points outside the picture"


def test_points_that_overlap_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        KeypointPerception(32, 4, 4, ((0, 2, 2), (2, 1, 2)), (0.0, 1.0, 0.0, 1.0))


def test_dims_no_point_covers_come_from_an_mlp_over_the_points():
    head = KeypointPerception(32, 5, 4, ((0, 1, 2),), (0.0, 1.0, 0.0, 1.0))
    out = head(torch.rand(2, 3, 32, 32), torch.zeros(5), torch.ones(5))
    assert out.shape == (2, 5) and torch.isfinite(out).all() and head.rest == [2, 3, 4]
