"""Short real trajectories and tiny untrained world models for every task with a scene codec."""

from __future__ import annotations

import functools

import numpy as np
import torch

from hiwm.tasks import make_expert, make_task
from hiwm.world_models import EnsembleConfig, EnsembleWorldModel
from hiwm.world_models.ensemble.chain import ChainConfig, ChainWorldModel


@functools.lru_cache(maxsize=None)
def trajectory(task: str, steps: int = 12, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The expert (skill 0.7, so the object moves and the grasp toggles) from ``seed``:
    (scenes (steps + 1, D), actions (steps, A)), actions[t] leading from scenes[t] to scenes[t + 1]."""
    env = make_task(task, images=False)
    expert = make_expert(task, skill=0.7, seed=seed)
    obs, _ = env.reset(seed=seed)
    scenes, actions = [env.scene()], []
    for _ in range(steps):
        a = expert.act(obs)
        obs, *_ = env.step(a)
        scenes.append(env.scene())
        actions.append(np.asarray(a, dtype=np.float64))
    return np.stack(scenes), np.stack(actions)


def tiny_world_model(task: str, seed: int = 0, kind: str = "ensemble") -> EnsembleWorldModel:
    """An untrained 3-member model normalised on real windows, so its predictions are well scaled
    (``kind``: "ensemble", the MLP, or "chain", the per-node model)."""
    torch.manual_seed(seed)
    if kind == "chain":
        wm = ChainWorldModel(ChainConfig(task=task, members=3, channels=16, conv_layers=2))
    else:
        wm = EnsembleWorldModel(EnsembleConfig(task=task, members=3, hidden=32, layers=2))
    scenes, actions = (torch.tensor(x, dtype=torch.float32) for x in trajectory(task))
    hist = torch.stack([scenes[:-2], scenes[1:-1]], 1)  # window k: scenes k, k + 1, then action k + 1
    into = torch.stack([torch.cat([actions[:1], actions[:-2]]), actions[:-1]], 1)
    wm.set_normalization(wm.codec.inputs(hist, into, actions[1:]),
                         wm.codec.targets(scenes[1:-1], scenes[2:], actions[1:]))
    return wm.eval()


def play_dataset(task: str, root, episodes: int = 2, steps: int = 20, seed: int = 100):
    """A tiny recorded dataset of ``task`` (play episodes, no images): what ``WorldModel.fit`` reads."""
    from hiwm.data.collect import collect

    return collect(task, "play", episodes, root, seed, progress=False, max_steps=steps)


def tiny_task_policy(task: str, stats: dict, seed: int = 0):
    """A tiny untrained diffusion policy on ``task``'s low-dimensional observation, scaled by ``stats``."""
    from hiwm.policies import make_policy
    from hiwm.tasks import task_class
    from hiwm.tasks.base import ENV_KEY, STATE_KEY

    spec = task_class(task).spec_
    torch.manual_seed(seed)
    policy = make_policy("diffusion", action_dim=spec.action_dim,
                         feature_dims={STATE_KEY: spec.agent_dim, ENV_KEY: spec.env_dim}, down_dims=(16, 32),
                         n_groups=4, step_embed_dim=16, num_inference_steps=2, horizon=8, n_action_steps=4)
    policy.set_stats({k: {s: np.asarray(stats[k][s], np.float32) for s in ("min", "max", "mean", "std")}
                      for k in (STATE_KEY, ENV_KEY, "action")})
    return policy.eval()
