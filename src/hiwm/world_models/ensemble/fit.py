"""Training the scene-vector kinds (ensemble, chain) with the one training loop (training/loop.py).

A recorded dataset becomes a list of scene episodes through the task's ``scene_of``; windows of them
(data/sequences.py) train the multi-step rollout loss. ``EnsembleWorldModel.fit`` / ``fit_episodes`` call
these, so the chain kind shares them by inheritance.
"""

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

log = logging.getLogger(__name__)

Episode = tuple[np.ndarray, np.ndarray]  # scenes (T, D_scene), actions (T, A), float64


def scene_episodes(dataset: LeRobotDataset, task_name: str) -> list[Episode]:
    """Each episode of ``dataset``, in order, as (scenes (T, D_scene), actions (T, A)) in float64."""
    task = task_class(task_name)
    state, env, action = (dataset.column(k) for k in (STATE_KEY, ENV_KEY, "action"))
    out = []
    for ep in dataset.episodes:
        a, b = ep["dataset_from_index"], ep["dataset_to_index"]
        scenes = task.scene_of({STATE_KEY: state[a:b].astype(np.float64), ENV_KEY: env[a:b].astype(np.float64)})
        out.append((scenes, action[a:b].astype(np.float64)))
    return out


def fit_scene_model(cls: type, config, episodes: list[Episode], train_cfg: TrainConfig,
                    progress: bool = True) -> tuple[torch.nn.Module, dict]:
    """Build ``cls(config)`` (initial weights from ``train_cfg.seed``), fit its normalisation on a probe of
    windows, train it on windows of ``episodes``; returns (model in eval mode, summary).

    The order of the calls below is the recipe a committed result depends on: the seeded build, then
    the probe from a generator seeded with ``train_cfg.seed``, then ``train``.
    """
    with seeded(train_cfg.seed):
        model = cls(config)
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
