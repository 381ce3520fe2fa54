"""Tiny policy configs and synthetic data so the policy tests run in seconds on 2 CPU cores.

(A uniquely named module rather than conftest.py: tests/conftest.py exists too, and `import conftest`
would be ambiguous.)
"""

from __future__ import annotations

import numpy as np
import torch

from hiwm.policies import make_policy

STATE, ENV = "observation.state", "observation.environment_state"
DIMS = {STATE: 2, ENV: 4}
ACTION_DIM = 2

# Per registered type: the smallest config that still exercises every code path.
TINY = {
    "diffusion": dict(down_dims=(16, 32), n_groups=4, step_embed_dim=16, num_inference_steps=4, horizon=8, n_action_steps=4),
}


def tiny_config(type_name: str, **overrides) -> dict:
    return {"feature_dims": dict(DIMS), "action_dim": ACTION_DIM, **TINY[type_name], **overrides}


def make_stats() -> dict:
    stats = {}
    for key, dim in [*DIMS.items(), ("action", ACTION_DIM)]:
        lo = -np.arange(1, dim + 1, dtype=np.float32)
        hi = 2.0 * np.arange(1, dim + 1, dtype=np.float32)
        stats[key] = {"min": lo, "max": hi, "mean": (lo + hi) / 2, "std": (hi - lo) / 4}
    return stats


def make_tiny(type_name: str, **overrides):
    policy = make_policy(type_name, **tiny_config(type_name, **overrides))
    policy.set_stats(make_stats())
    return policy


def obs_step(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(-1, 2, size=(batch, d)).astype(np.float32) for k, d in DIMS.items()}


def train_batch(policy, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A batch where the action is a fixed function of the latest observation (learnable)."""
    cfg = policy.config
    g = torch.Generator().manual_seed(seed)
    obs = {k: torch.rand(batch, cfg.n_obs_steps, d, generator=g) * 2 - 0.5 for k, d in DIMS.items()}
    base = obs[STATE][:, -1:, :]  # (B, 1, 2)
    ramp = torch.linspace(0, 1, cfg.horizon)[None, :, None]
    action = (base + ramp * obs[ENV][:, -1:, :2]).clamp(-1, 2)  # (B, H, 2)
    is_pad = torch.zeros(batch, cfg.horizon, dtype=torch.bool)
    is_pad[: batch // 4, -2:] = True  # some episodes end inside the window
    return {**obs, "action": action, "action_is_pad": is_pad}
