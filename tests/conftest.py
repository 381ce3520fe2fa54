"""Shared tiny Push-T fixtures: an untrained-but-deterministic policy and world model in milliseconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hiwm.policies import make_policy
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.tasks.pusht import PushTTask
from hiwm.world_models import EnsembleConfig, EnsembleWorldModel


def pusht_stats() -> dict:
    lo, hi = np.zeros(2, np.float32), np.full(2, 512.0, np.float32)
    klo, khi = np.zeros(16, np.float32), np.full(16, 512.0, np.float32)
    mk = lambda a, b: {"min": a, "max": b, "mean": (a + b) / 2, "std": (b - a) / 4}  # noqa: E731
    return {STATE_KEY: mk(lo, hi), ENV_KEY: mk(klo, khi), "action": mk(lo, hi)}


def tiny_policy(seed: int = 0):
    torch.manual_seed(seed)
    policy = make_policy("diffusion", action_dim=2, feature_dims={STATE_KEY: 2, ENV_KEY: 16}, down_dims=(16, 32),
                         n_groups=4, step_embed_dim=16, num_inference_steps=3, horizon=8, n_action_steps=4)
    policy.set_stats(pusht_stats())
    return policy.eval()


def tiny_image_policy(seed: int = 0):
    """A tiny flow policy on the agent state and the camera (96 x 96 frames resized to 24 x 24)."""
    torch.manual_seed(seed)
    policy = make_policy("flow", action_dim=2, feature_dims={STATE_KEY: 2, ENV_KEY: 16}, input_features=[STATE_KEY, IMAGE_KEY],
                         image_size=24, crop_fraction=0.9, image_features=8, image_width=4, d_model=32, n_heads=2,
                         num_inference_steps=3, horizon=8, n_action_steps=4)
    policy.set_stats(pusht_stats())
    return policy.eval()


def tiny_world_model(seed: int = 0) -> EnsembleWorldModel:
    torch.manual_seed(seed)
    wm = EnsembleWorldModel(EnsembleConfig(members=3, hidden=32, layers=2))
    # normalisation from a few random scenes so the untrained net is well scaled
    rng = np.random.default_rng(seed)
    scenes = torch.tensor(np.stack([PushTTask.initial_scene(i) for i in range(64)]), dtype=torch.float32)
    hist = scenes[:, None].expand(-1, 2, -1)
    acts = hist[..., :2] + torch.tensor(rng.normal(0, 20, (64, 2, 2)), dtype=torch.float32)
    wm.set_normalization(wm.codec.inputs(hist, acts, acts[:, -1]), torch.randn(64, 5) * 0.3)
    return wm.eval()


@pytest.fixture
def policy():
    return tiny_policy()


@pytest.fixture
def image_policy():
    return tiny_image_policy()


@pytest.fixture
def world_model():
    return tiny_world_model()


@pytest.fixture
def obs0() -> dict:
    return PushTTask.observe(PushTTask.initial_scene(20000))
