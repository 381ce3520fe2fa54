"""--seed decides initial weights: policies and world models built under the same seed are identical, and
building them leaves the caller's RNG stream where it was."""

from __future__ import annotations

import pytest
import torch

from hiwm.policies import POLICIES, make_policy
from hiwm.seeding import seeded
from hiwm.training import TrainConfig
from hiwm.world_models import EnsembleConfig, EnsembleWorldModel

DIMS = {"observation.state": 2, "observation.environment_state": 16}


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    """Bit-identical tensors (unset normalisation statistics are NaN on both sides)."""
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=0, equal_nan=True) for k in a)


def test_seeded_restores_the_callers_rng():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with seeded(1):
        inside = torch.rand(3)
    assert torch.equal(torch.rand(3), expected)  # as if the block had not run
    with seeded(1):
        assert torch.equal(torch.rand(3), inside)
    with seeded(None):  # no seed: the global stream is used and advanced
        torch.rand(1)


@pytest.mark.parametrize("policy_type", POLICIES.names())
def test_make_policy_with_a_seed_gives_the_same_weights(policy_type):
    build = lambda seed: weights(make_policy(policy_type, seed=seed, feature_dims=DIMS, action_dim=2))  # noqa: E731
    torch.manual_seed(0)
    a = build(3)
    torch.rand(10)  # whatever the global RNG did in between
    assert same(a, build(3))
    assert not same(a, build(4))


def test_fitting_a_world_model_is_a_function_of_the_seed():
    rng = torch.Generator().manual_seed(0)
    # Push-T scenes (agent x, y, block x, y, angle) wandering a little, with targets near the agent
    scenes = 256 + torch.cumsum(torch.randn(2, 20, 5, generator=rng), 1).double()
    episodes = [(s.numpy(), (s[:, :2] + 5).numpy()) for s in scenes]
    cfg = EnsembleConfig(task="pusht", members=2, hidden=16, layers=1, rollout_steps=2)

    def fit(seed: int):
        tc = TrainConfig(steps=3, batch_size=8, lr=1e-3, warmup_steps=1, ema_decay=None, log_every=3, seed=seed)
        return weights(EnsembleWorldModel.fit_episodes(cfg, episodes, tc, progress=False)[0])

    torch.manual_seed(1)
    a = fit(7)
    torch.manual_seed(2)
    assert same(a, fit(7))
    assert not same(a, fit(8))
