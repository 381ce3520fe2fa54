"""Configuration of the Diffusion Policy backbone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hiwm.errors import HiwmError
from hiwm.policies.base import PolicyConfig

PREDICTION_TYPES = ("epsilon", "sample")


@dataclass
class DiffusionConfig(PolicyConfig):
    """Diffusion Policy: a conditional 1-D temporal U-Net denoises the action chunk.

    Sized for 2 CPU cores (benchmarks/policies.py): U-Net widths 32-64-128 (the original uses 256-512-1024), 100
    training noise levels, and DDIM sampling with 10 steps at inference. It predicts the clean chunk ("sample"),
    which fits in a few thousand CPU steps far better than "epsilon" (reports/pusht-diffusion-state).
    """

    type: str = "diffusion"
    # U-Net
    down_dims: tuple[int, ...] = (32, 64, 128)
    kernel_size: int = 5
    n_groups: int = 8
    step_embed_dim: int = 128
    # diffusion
    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "sample"
    num_inference_steps: int = 10
    clip_sample: bool = True
    clip_sample_range: float = 1.0

    cli_choices: ClassVar[dict[str, tuple[str, ...]]] = {"prediction_type": PREDICTION_TYPES,
                                                         "beta_schedule": ("squaredcos_cap_v2",)}

    def __post_init__(self) -> None:
        super().__post_init__()
        self.down_dims = tuple(int(d) for d in self.down_dims)  # JSON gives back a list

    def validate(self) -> None:
        super().validate()
        if self.prediction_type not in PREDICTION_TYPES:
            raise HiwmError(f"diffusion prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}")
        if self.beta_schedule != "squaredcos_cap_v2":
            raise HiwmError(f"diffusion beta_schedule {self.beta_schedule!r} is not supported (only 'squaredcos_cap_v2')")
        if not 1 <= self.num_inference_steps <= self.num_train_timesteps:
            raise HiwmError(
                f"diffusion num_inference_steps must be in [1, {self.num_train_timesteps}], got {self.num_inference_steps}"
            )
        if not self.down_dims:
            raise HiwmError("diffusion down_dims must not be empty")
        # Every level but the last halves the time axis, and the up path must land on the same lengths.
        factor = 2 ** (len(self.down_dims) - 1)
        if self.horizon % factor:
            raise HiwmError(f"diffusion horizon {self.horizon} must be divisible by {factor} for down_dims {self.down_dims}")
        if any(d % self.n_groups for d in self.down_dims):
            raise HiwmError(f"diffusion down_dims {self.down_dims} must be multiples of n_groups={self.n_groups}")
        if self.kernel_size % 2 == 0:
            raise HiwmError(f"diffusion kernel_size must be odd (same-length convolutions), got {self.kernel_size}")
