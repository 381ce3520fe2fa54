"""Training a world model of any registered kind: ``fit_world_model`` resolves the kind and calls its ``fit``.

    model, summary = fit_world_model(config, [demos, play], train_cfg)   # LeRobotDatasets, in order

The scene-vector recipe itself lives with the kinds that use it (world_models/ensemble/fit.py).
"""

from __future__ import annotations

import warnings

from hiwm.data.lerobot import LeRobotDataset
from hiwm.training import TrainConfig
from hiwm.world_models.base import WORLD_MODELS, WorldModel, WorldModelConfig
from hiwm.world_models.ensemble.fit import scene_episodes  # noqa: F401  (deprecated re-export, see below)


def fit_world_model(config: WorldModelConfig, datasets: list[LeRobotDataset], train_cfg: TrainConfig,
                    progress: bool = True) -> tuple[WorldModel, dict]:
    """The registered kind ``config.type`` trained on ``datasets`` (``WorldModel.fit``) -> (model, summary).

    Deprecated, until pipeline.py and cli.py pass datasets: a list of scene episodes
    [(scenes (T, D_scene), actions (T, A))] made with ``scene_episodes`` is still taken, and gives the same
    weights as the datasets they were read from.
    """
    cls = WORLD_MODELS.get(config.type)
    datasets = list(datasets)
    if datasets and isinstance(datasets[0], tuple):  # the old call: scene episodes already read
        warnings.warn("fit_world_model(config, episodes, ...) is deprecated: pass the LeRobotDatasets",
                      DeprecationWarning, stacklevel=2)
        return cls.fit_episodes(config, datasets, train_cfg, progress)
    return cls.fit(config, datasets, train_cfg, progress)
