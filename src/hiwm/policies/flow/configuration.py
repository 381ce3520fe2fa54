"""Configuration of the flow-matching transformer backbone (pi0-style action expert)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hiwm.errors import HiwmError
from hiwm.policies.base import PolicyConfig

PREDICTION_TYPES = ("velocity", "sample")
# How the flow time (and the observation) reach the action tokens:
#   "tokens"        pi0: the time embedding is mixed into every action token by an MLP; observations reach the
#                   actions only through attention to their prefix tokens
#   "adaptive_time" pi0.5: the time embedding modulates every action-token block (adaptive norms, zero-initialised)
#   "adaptive"      as "adaptive_time", with the flattened observation history added to the modulating vector, so
#                   every block is conditioned on it directly (what the U-Net's FiLM does for Diffusion Policy)
CONDITIONINGS = ("tokens", "adaptive_time", "adaptive")


@dataclass
class FlowConfig(PolicyConfig):
    """Flow matching: a transformer over observation tokens and the noisy action chunk predicts the chunk
    (or the velocity field), integrated from noise (t = 1) to actions (t = 0) in ``num_inference_steps`` Euler steps.

    Sized for 2 CPU cores: d_model 128, 6 layers, 4 heads. The defaults are what made it usable on Push-T from
    40 demonstrations, where pi0's own choices (velocity, time mixed into the tokens, Beta(1.5, 1) times) were
    not (the sweep is in reports/pusht-flow-state).
    Training times t are Beta(time_beta_alpha, time_beta_beta) scaled into [time_min, 1]; alpha > beta
    puts more weight on noisy t (pi0 uses Beta(1.5, 1)); the default Beta(1, 1) is uniform.
    """

    type: str = "flow"
    # transformer
    d_model: int = 128
    n_layers: int = 6
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    # flow matching
    num_inference_steps: int = 10
    time_beta_alpha: float = 1.0
    time_beta_beta: float = 1.0
    time_min: float = 0.001
    clip_sample: bool = True
    # what the network outputs: "velocity" (pi0: u = noise - actions) or "sample" (the clean chunk, from which
    # the velocity is (x_t - sample) / t); as for the diffusion backbone, "sample" fits in far fewer CPU steps
    prediction_type: str = "sample"
    conditioning: str = "adaptive"
    causal_actions: bool = True  # action token i attends to actions <= i only (Diffusion Policy's transformer)

    cli_choices: ClassVar[dict[str, tuple[str, ...]]] = {"prediction_type": PREDICTION_TYPES, "conditioning": CONDITIONINGS}

    def validate(self) -> None:
        super().validate()
        for name in ("d_model", "n_layers", "n_heads", "ff_mult", "num_inference_steps"):
            if int(getattr(self, name)) < 1:
                raise HiwmError(f"flow {name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise HiwmError(f"flow d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.d_model % 2:
            raise HiwmError(f"flow d_model must be even (sine and cosine halves of the time embedding), got {self.d_model}")
        if not 0.0 <= self.dropout < 1.0:
            raise HiwmError(f"flow dropout must be in [0, 1), got {self.dropout}")
        if self.time_beta_alpha <= 0 or self.time_beta_beta <= 0:
            raise HiwmError(f"flow time Beta parameters must be > 0, got ({self.time_beta_alpha}, {self.time_beta_beta})")
        if not 0.0 <= self.time_min < 1.0:
            raise HiwmError(f"flow time_min must be in [0, 1), got {self.time_min}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise HiwmError(f"flow prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}")
        if self.conditioning not in CONDITIONINGS:
            raise HiwmError(f"flow conditioning must be one of {CONDITIONINGS}, got {self.conditioning!r}")
