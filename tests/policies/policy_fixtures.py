"""Tiny policy configs and synthetic data so the policy tests run in seconds on 2 CPU cores.

Every helper takes an observation kind: ``state`` (the two low-dim features), ``image`` (camera only)
or ``both`` (agent state + camera). Images are tiny (12 x 12) so the encoder costs next to nothing.

(A uniquely named module rather than conftest.py: tests/conftest.py exists too, and `import conftest`
would be ambiguous.)
"""

from __future__ import annotations

import json

import numpy as np
import torch

from hiwm.policies import make_policy

STATE, ENV, IMAGE = "observation.state", "observation.environment_state", "observation.image"
DIMS = {STATE: 2, ENV: 4}
ACTION_DIM = 2
IMG = 12
OBS_KINDS = {"state": [STATE, ENV], "image": [IMAGE], "both": [STATE, IMAGE]}
IMAGE_CONFIG = dict(image_size=IMG, crop_fraction=0.75, image_features=8, image_width=4)

# Per registered type: the smallest config that still exercises every code path.
TINY = {
    "diffusion": dict(down_dims=(16, 32), n_groups=4, step_embed_dim=16, num_inference_steps=4, horizon=8, n_action_steps=4),
    "flow": dict(d_model=32, n_layers=2, n_heads=2, ff_mult=2, num_inference_steps=4, horizon=8, n_action_steps=4),
}


def tiny_config(type_name: str, obs_kind: str = "state", **overrides) -> dict:
    return {"feature_dims": dict(DIMS), "action_dim": ACTION_DIM, "input_features": list(OBS_KINDS[obs_kind]),
            **IMAGE_CONFIG, **TINY[type_name], **overrides}


def make_stats() -> dict:
    stats = {}
    for key, dim in [*DIMS.items(), ("action", ACTION_DIM)]:
        lo = -np.arange(1, dim + 1, dtype=np.float32)
        hi = 2.0 * np.arange(1, dim + 1, dtype=np.float32)
        stats[key] = {"min": lo, "max": hi, "mean": (lo + hi) / 2, "std": (hi - lo) / 4}
    return stats


def make_tiny(type_name: str, obs_kind: str = "state", **overrides):
    policy = make_policy(type_name, **tiny_config(type_name, obs_kind, **overrides))
    policy.set_stats(make_stats())
    return policy


def drop_checksum(ckpt) -> None:
    """Make checkpoint ``ckpt`` look saved before config.json recorded the weights' sha256."""
    path = ckpt / "config.json"
    raw = json.loads(path.read_text())
    raw.pop("weights_sha256")
    path.write_text(json.dumps(raw))


def _keys(obs_kind: str) -> list[str]:
    return OBS_KINDS[obs_kind]


def obs_step(batch: int, seed: int = 0, obs_kind: str = "state") -> dict[str, np.ndarray]:
    """One observation per env: key -> (B, D) float32, image (B, IMG, IMG, 3) uint8."""
    rng = np.random.default_rng(seed)
    out = {}
    for k in _keys(obs_kind):
        if k == IMAGE:
            out[k] = rng.integers(0, 256, size=(batch, IMG, IMG, 3), dtype=np.uint8)
        else:
            out[k] = rng.uniform(-1, 2, size=(batch, DIMS[k])).astype(np.float32)
    return out


def chunk_batch(policy, batch: int, seed: int = 0, obs_kind: str = "state") -> dict[str, np.ndarray]:
    """An observation history: key -> (B, n_obs_steps, D), image (B, n_obs_steps, IMG, IMG, 3) uint8."""
    t = policy.config.n_obs_steps
    steps = [obs_step(batch, seed * 1000 + i, obs_kind) for i in range(t)]
    return {k: np.stack([s[k] for s in steps], axis=1) for k in steps[0]}


def train_batch(policy, batch: int, seed: int = 0, obs_kind: str = "state") -> dict[str, torch.Tensor]:
    """A batch where the action is a fixed function of the latest observation (learnable).

    With an image, the frame's brightness per colour channel carries the three numbers the action
    depends on, so an image-only policy can learn it too.
    """
    cfg = policy.config
    g = torch.Generator().manual_seed(seed)
    low = {k: torch.rand(batch, cfg.n_obs_steps, d, generator=g) * 2 - 0.5 for k, d in DIMS.items()}
    base = low[STATE][:, -1:, :]  # (B, 1, 2)
    ramp = torch.linspace(0, 1, cfg.horizon)[None, :, None]
    action = (base + ramp * low[ENV][:, -1:, :1]).clamp(-1, 2)  # (B, H, 2)
    is_pad = torch.zeros(batch, cfg.horizon, dtype=torch.bool)
    is_pad[: batch // 4, -2:] = True  # some episodes end inside the window
    out = {k: v for k, v in low.items() if k in _keys(obs_kind)}
    if IMAGE in _keys(obs_kind):
        level = torch.cat([low[STATE], low[ENV][..., :1]], dim=-1)  # (B, T, 3) in [-0.5, 1.5]
        pixels = ((level + 0.5) / 2 * 200 + 20)[:, :, None, None, :].expand(-1, -1, IMG, IMG, -1)
        noise = torch.randint(0, 16, pixels.shape, generator=g)
        out[IMAGE] = (pixels + noise).clamp(0, 255).to(torch.uint8)
    return {**out, "action": action, "action_is_pad": is_pad}
