"""One generic training loop for anything with ``forward(batch) -> (loss, info)``, alone or under torchrun."""

from hiwm.training.distributed import dist_info, is_main_process
from hiwm.training.ema import EMA
from hiwm.training.loop import TrainConfig, lr_factor, train

__all__ = ["EMA", "TrainConfig", "dist_info", "is_main_process", "lr_factor", "train"]
