"""Policies: a shared interface (base.py), a registry, and one folder per backbone.

Backbones: ``diffusion`` (1-D U-Net, DDIM) and ``flow`` (transformer, flow matching). Both take
low-dimensional and/or image observations through the shared observation encoder (observation.py).

    policy = make_policy("diffusion", feature_dims={...}, action_dim=2)
    policy.set_stats(stats); ...train...; policy.save(dir)
    policy = load_policy(dir, device="cpu")
"""

from __future__ import annotations

from hiwm.errors import HiwmError
from hiwm.seeding import seeded
from hiwm.policies.base import ACTION_KEY, PAD_KEY, Policy, PolicyConfig, PolicyState
from hiwm.policies.checkpoint import load_policy, save_policy
from hiwm.policies.normalize import Normalizer
from hiwm.policies.registry import POLICIES
from hiwm.policies import diffusion  # noqa: F401  (registers "diffusion")
from hiwm.policies import flow  # noqa: F401  (registers "flow")
from hiwm.policies.vision import IMAGE_ENCODERS


def make_policy(type_name: str, seed: int | None = None, **config_overrides) -> Policy:
    """Build a registered policy from its default config with ``config_overrides`` applied; with ``seed`` its
    initial weights are a function of the seed (hiwm/seeding.py), otherwise of torch's global RNG.

    Unknown type names and invalid configs raise a one-line HiwmError.
    """
    policy_cls = POLICIES.get(type_name)
    if config_overrides.get("type", type_name) != type_name:
        raise HiwmError(f"make_policy({type_name!r}) given a config of type {config_overrides['type']!r}")
    config = policy_cls.config_class.from_dict({**config_overrides, "type": type_name})
    with seeded(seed):
        return policy_cls(config)


__all__ = [
    "ACTION_KEY", "IMAGE_ENCODERS", "PAD_KEY", "POLICIES", "Normalizer", "Policy", "PolicyConfig", "PolicyState",
    "load_policy", "make_policy", "save_policy",
]
