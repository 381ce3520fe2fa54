"""One generic training loop for anything with ``forward(batch) -> (loss, info)``."""

from hiwm.training.ema import EMA
from hiwm.training.loop import TrainConfig, lr_factor, train

__all__ = ["EMA", "TrainConfig", "lr_factor", "train"]
