"""The recipe of a Hi-WM run: one typed config tree (settings.py), presets per task, one way to resolve them."""

from hiwm.recipe.resolve import config_json, load_preset, preset_about, preset_names, resolve, split_overrides
from hiwm.recipe.settings import (DataConfig, EvaluationConfig, FinetuneConfig, RunConfig, TrainingConfig,
                                  WMCLConfig)
from hiwm.recipe.tree import as_dict, build

__all__ = ["DataConfig", "EvaluationConfig", "FinetuneConfig", "RunConfig", "TrainingConfig", "WMCLConfig", "as_dict",
           "build", "config_json", "load_preset", "preset_about", "preset_names", "resolve", "split_overrides"]
