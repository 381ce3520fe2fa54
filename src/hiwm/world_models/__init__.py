"""World models: the functional interface, the registered models, and the env wrappers."""

from hiwm.world_models.base import (WORLD_MODELS, TensorState, WMState, WorldModel, WorldModelConfig, WorldModelState,
                                    load_world_model)
from hiwm.world_models.ensemble.model import EnsembleConfig, EnsembleWorldModel
from hiwm.world_models.pixel.model import PixelConfig, PixelWorldModel
from hiwm.world_models.simulator import SimulatorConfig, SimulatorModel
from hiwm.world_models.env import WorldModelEnv, WorldModelVecEnv


def make_world_model_config(type_name: str, **overrides) -> WorldModelConfig:
    return WORLD_MODELS.get(type_name).config_class(**overrides)


__all__ = ["WORLD_MODELS", "EnsembleConfig", "EnsembleWorldModel", "PixelConfig", "PixelWorldModel", "SimulatorConfig", "SimulatorModel", "TensorState",
           "WMState", "WorldModel", "WorldModelConfig", "WorldModelState", "WorldModelEnv", "WorldModelVecEnv",
           "load_world_model", "make_world_model_config"]
