"""Training a world model of any registered kind: ``fit_world_model`` resolves the kind and calls its ``fit``.

    model, summary = fit_world_model(config, [demos, play], train_cfg)   # LeRobotDatasets, in order

The scene-vector recipe itself lives with the kinds that use it (world_models/ensemble/fit.py).
"""

from __future__ import annotations

from hiwm.data.lerobot import LeRobotDataset
from hiwm.training import TrainConfig
from hiwm.world_models.base import WORLD_MODELS, WorldModel, WorldModelConfig


def fit_world_model(config: WorldModelConfig, datasets: list[LeRobotDataset], train_cfg: TrainConfig,
                    progress: bool = True) -> tuple[WorldModel, dict]:
    """The registered kind ``config.type`` trained on ``datasets`` (``WorldModel.fit``) -> (model, summary)."""
    return WORLD_MODELS.get(config.type).fit(config, list(datasets), train_cfg, progress)
