"""Training a world model from recorded episodes with the one training loop (training/loop.py)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from hiwm.data.lerobot import LeRobotDataset
from hiwm.data.sequences import SequenceSampler
from hiwm.seeding import seeded
from hiwm.tasks import task_class
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.training import TrainConfig, is_main_process, train
from hiwm.world_models.base import WORLD_MODELS, WorldModel, WorldModelConfig

log = logging.getLogger(__name__)


def scene_episodes(dataset: LeRobotDataset, task_name: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each episode as (scenes (T, D_scene), actions (T, A)) in float64."""
    task = task_class(task_name)
    state, env, action = (dataset.column(k) for k in (STATE_KEY, ENV_KEY, "action"))
    out = []
    for ep in dataset.episodes:
        a, b = ep["dataset_from_index"], ep["dataset_to_index"]
        scenes = task.scene_of({STATE_KEY: state[a:b].astype(np.float64), ENV_KEY: env[a:b].astype(np.float64)})
        out.append((scenes, action[a:b].astype(np.float64)))
    return out


def fit_world_model(config: WorldModelConfig, episodes: list[tuple[np.ndarray, np.ndarray]], train_cfg: TrainConfig,
                    progress: bool = True) -> tuple[WorldModel, dict]:
    """Build the registered model for ``config`` (initial weights from ``train_cfg.seed``), fit its normalisation,
    train it; returns (model, summary)."""
    with seeded(train_cfg.seed):
        model = WORLD_MODELS.get(config.type)(config)
    codec = model.codec
    sampler = SequenceSampler(episodes, config.n_hist, config.rollout_steps, lambda s: codec.rest_action(s))
    probe = sampler.sample(min(8192, 16 * len(sampler)), torch.Generator().manual_seed(train_cfg.seed))
    h = config.n_hist
    feats = codec.inputs(probe["scenes"][:, :h], probe["actions"][:, :h], probe["actions"][:, h])
    model.set_normalization(feats, codec.targets(probe["scenes"][:, h - 1], probe["scenes"][:, h],
                                                    probe["actions"][:, h]))
    summary = train(model, sampler.sample, train_cfg, progress=progress)
    model.eval()
    if is_main_process():  # under torchrun every rank trains the same model; one reports it
        log.info("world model trained: %d windows, final loss %.4f", len(sampler), summary["final_loss"])
    return model, summary
