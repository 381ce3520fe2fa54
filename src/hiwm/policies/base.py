"""The shared policy interface: a config dataclass, an immutable acting state, and the Policy base.

Two ways to act, one implementation:

* functional, for the Hi-WM session engine, which stores the state in rollout-tree nodes so that a
  rollback or a new branch resumes from a cached value instead of re-simulating::

      state = policy.initial_state(batch_size)
      action, state = policy.act(state, obs, generator)      # obs: key -> (B, D), image (B, H, W, 3) uint8

* LeRobot-style ``select_action(obs)`` / ``reset()``, a thin wrapper that holds one such state.

Training batches: key -> (B, T_obs, D) observations (``observation.image``: (B, T_obs, H, W, 3) uint8),
``action`` (B, horizon, A) and ``action_is_pad`` (B, horizon) bool. A window's actions start at its newest
observation (data/windows.py), so the first executed action is chunk index 0 (the current step).

Observations reach a backbone through one path (policies/observation.py): low-dimensional features are
normalised here, images are encoded by a trained encoder, and the backbone's ``compute_loss`` /
``generate`` see only the resulting (B, T_obs, F) features.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from torch import nn

from hiwm.errors import HiwmError
from hiwm.policies.frame import Frame, TaskFrame
from hiwm.policies.normalize import Normalizer
from hiwm.policies.observation import ObservationEncoder
from hiwm.policies.state import PolicyState, push_history
from hiwm.policies.vision import IMAGE_ENCODERS
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY

FEATURE_ALIASES = {"state": STATE_KEY, "env": ENV_KEY, "image": IMAGE_KEY}  # short names for input_features

ACTION_KEY = "action"
PAD_KEY = "action_is_pad"


@dataclass
class PolicyConfig:
    """Fields every backbone shares; a backbone subclasses this and sets ``type``.

    Observation options: ``input_features`` picks the inputs (any of ``observation.state``,
    ``observation.environment_state``, ``observation.image``); low-dimensional ones need a size in
    ``feature_dims``. With the image: ``image_size`` (images are resized to it when they come at another
    size), ``crop_fraction`` (random crop of that share of the side when training, centre crop when
    acting; 1.0 turns augmentation off), ``image_encoder`` (a name in IMAGE_ENCODERS: conv, resnet18),
    its base ``image_width`` and output ``image_features`` per frame.
    """

    type: str = ""
    input_features: list[str] = field(default_factory=lambda: [STATE_KEY, ENV_KEY])
    n_obs_steps: int = 2
    horizon: int = 16
    n_action_steps: int = 8
    action_dim: int = 2
    feature_dims: dict[str, int] = field(default_factory=dict)  # low-dimensional input feature -> D
    image_size: int = 96
    crop_fraction: float = 0.875
    image_encoder: str = "conv"
    image_features: int = 64
    image_width: int = 16  # conv widths 16-32-64-64: CPU-sized (benchmarks/policies.py measures)
    # a task name: see the low-dimensional inputs and give actions in that task's own frame (policies/frame.py);
    # "" keeps the world frame
    frame: str = ""
    device: str = "cpu"

    # The accepted values of a string field, shown in `--help` (validate() enforces them).
    cli_choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __post_init__(self) -> None:
        # JSON and the command line may give tuples, or the short names state, env, image
        self.input_features = [FEATURE_ALIASES.get(f, f) for f in self.input_features]

    def validate(self) -> None:
        """Raise a one-line HiwmError on an inconsistent config."""
        if not self.input_features:
            raise HiwmError(f"{self.type} policy: input_features is empty (give e.g. [{STATE_KEY!r}] or [{IMAGE_KEY!r}])")
        if len(set(self.input_features)) != len(self.input_features):
            raise HiwmError(f"{self.type} policy: input_features has duplicates: {self.input_features}")
        missing = [k for k in self.lowdim_features if k not in self.feature_dims]
        if missing:
            raise HiwmError(f"{self.type} policy: feature_dims has no size for {missing} (give feature_dims={{key: D}})")
        for name in ("n_obs_steps", "horizon", "n_action_steps", "action_dim"):
            if int(getattr(self, name)) < 1:
                raise HiwmError(f"{self.type} policy: {name} must be >= 1, got {getattr(self, name)}")
        if self.n_action_steps > self.horizon:
            raise HiwmError(f"{self.type} policy: n_action_steps ({self.n_action_steps}) exceeds horizon ({self.horizon})")
        if self.uses_images:
            self._validate_image()
        if self.frame and not {STATE_KEY, ENV_KEY} <= set(self.input_features):
            raise HiwmError(f"{self.type} policy: frame {self.frame!r} needs both {STATE_KEY!r} and {ENV_KEY!r} inputs")

    def _validate_image(self) -> None:
        for name in ("image_size", "image_features", "image_width"):
            if int(getattr(self, name)) < 1:
                raise HiwmError(f"{self.type} policy: {name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.crop_fraction <= 1.0:
            raise HiwmError(f"{self.type} policy: crop_fraction must be in (0, 1], got {self.crop_fraction}")
        IMAGE_ENCODERS.get(self.image_encoder)  # unknown name: one line listing the known encoders

    @property
    def uses_images(self) -> bool:
        return IMAGE_KEY in self.input_features

    @property
    def lowdim_features(self) -> list[str]:
        """The input features other than the image, in order."""
        return [k for k in self.input_features if k != IMAGE_KEY]

    @property
    def lowdim_dim(self) -> int:
        """F_low: the width of one normalised low-dimensional observation step."""
        return sum(int(self.feature_dims[k]) for k in self.lowdim_features)

    @property
    def obs_dim(self) -> int:
        """F: the width of one encoded observation step (low-dim features, then image features)."""
        return self.lowdim_dim + (int(self.image_features) if self.uses_images else 0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "PolicyConfig":
        """Inverse of ``to_dict``; unknown fields raise HiwmError (a config from another version)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise HiwmError(f"unknown {cls.__name__} fields: {unknown}")
        return cls(**raw)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, action_is_pad: torch.Tensor) -> torch.Tensor:
    """pred, target: (B, H, A), action_is_pad: (B, H) -> the mean squared error over real (unpadded) actions."""
    err = (pred - target).pow(2)
    valid = (~action_is_pad).unsqueeze(-1).to(err.dtype)
    # clamp guards a batch that is entirely padding
    return (err * valid).sum() / (valid.sum() * err.shape[-1]).clamp(min=1.0)


def initial_noise(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Gaussian noise drawn on the generator's device, then moved: a CPU generator gives the same
    actions whether the model runs on CPU or CUDA (up to float arithmetic)."""
    noise_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=noise_device).to(device)


class Policy(nn.Module, abc.ABC):
    """Base class. A backbone implements ``compute_loss`` and ``generate`` on normalised tensors.

    Subclasses set ``config_class`` and register themselves in ``POLICIES``. Normalisation, observation
    encoding, the acting state, batching conventions and checkpoints live here so every backbone
    behaves alike.
    """

    config_class: ClassVar[type[PolicyConfig]] = PolicyConfig

    def __init__(self, config: PolicyConfig):
        super().__init__()
        config.validate()
        self.config = config
        dims = {k: int(config.feature_dims[k]) for k in config.lowdim_features}
        self.normalizer = Normalizer({**dims, ACTION_KEY: int(config.action_dim)})
        self.obs_encoder = ObservationEncoder(config.input_features, config.lowdim_dim, config.image_size,
                                              config.crop_fraction, config.image_encoder, config.image_features,
                                              config.image_width)
        self.task_frame = TaskFrame(config.frame, int(config.feature_dims[STATE_KEY])) if config.frame else None
        self._state: PolicyState | None = None  # only for the select_action / reset wrapper

    # ---- what a backbone implements (normalised space) ----
    @abc.abstractmethod
    def compute_loss(
        self, obs: torch.Tensor, action: torch.Tensor, action_is_pad: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """obs: (B, T_obs, F) features, action: (B, horizon, A), action_is_pad: (B, horizon) -> (scalar loss, info)."""

    @abc.abstractmethod
    def generate(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """obs: (B, T_obs, F) features -> normalised actions (B, horizon, A)."""

    # ---- shared machinery ----
    @property
    def device(self) -> torch.device:
        return next(self.buffers()).device

    def set_stats(self, stats: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Dataset statistics, key -> {"min", "max", "mean", "std"}: (D,), for every low-dimensional input
        feature and ``action`` (images need none: they are scaled by their fixed [0, 255] range)."""
        self.normalizer.set_stats(stats)

    def input_tensors(self, obs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """An env's observation dict -> this policy's input features as CPU tensors (images keep their
        dtype, uint8; the rest float32); other keys are dropped, missing ones raise a one-line HiwmError."""
        missing = [k for k in self.config.input_features if k not in obs]
        if missing:
            raise HiwmError(f"{self.config.type} policy: observation has no {missing} (has: {', '.join(sorted(obs))})")
        return {k: torch.as_tensor(np.asarray(obs[k])) if k == IMAGE_KEY else torch.as_tensor(obs[k], dtype=torch.float32)
                for k in self.config.input_features}

    def _tensor(self, batch: Mapping[str, Any], key: str) -> torch.Tensor:
        if key not in batch:
            raise HiwmError(f"{self.config.type} policy: batch has no {key!r} (has: {', '.join(sorted(batch))})")
        return torch.as_tensor(batch[key], dtype=torch.float32, device=self.device)

    def _images(self, batch: Mapping[str, Any], time_dim: bool) -> torch.Tensor:
        """batch[IMAGE_KEY] -> uint8 (B, T, H, W, 3) (or (B, H, W, 3) without ``time_dim``) on the policy's device."""
        if IMAGE_KEY not in batch:
            raise HiwmError(f"{self.config.type} policy: batch has no {IMAGE_KEY!r} (has: {', '.join(sorted(batch))})")
        x = torch.as_tensor(batch[IMAGE_KEY], device=self.device)
        shape = "(B, T_obs, H, W, 3)" if time_dim else "(B, H, W, 3)"
        if x.dtype != torch.uint8 or x.ndim != (5 if time_dim else 4) or x.shape[-1] != 3:
            raise HiwmError(f"{IMAGE_KEY}: expected uint8 RGB images {shape}, got {x.dtype} {tuple(x.shape)}")
        return x

    def _read_obs(self, batch: Mapping[str, Any], time_dim: bool
                  ) -> tuple[torch.Tensor, torch.Tensor | None, Frame | None]:
        """key -> (B, T, D) (or (B, D) without ``time_dim``) -> (normalised low-dim (B, T, F_low) / (B, F_low),
        uint8 images (B, T, H, W, 3) / (B, H, W, 3) or None, the newest step's task frame or None)."""
        cfg = self.config
        images = self._images(batch, time_dim) if cfg.uses_images else None
        raw = {}
        for key in cfg.lowdim_features:
            x = self._tensor(batch, key)
            want = (3 if time_dim else 2, cfg.feature_dims[key])
            if (x.ndim, x.shape[-1]) != want:
                shape = "(B, T_obs, D)" if time_dim else "(B, D)"
                raise HiwmError(f"{key}: expected {shape} with D={want[1]}, got {tuple(x.shape)}")
            raw[key] = x
        frame = None
        if self.task_frame is not None:  # each step in its own frame
            frames = self.task_frame.of(raw[STATE_KEY], raw[ENV_KEY])
            raw[STATE_KEY], raw[ENV_KEY] = self.task_frame.observation(raw[STATE_KEY], raw[ENV_KEY], frames)
            frame = tuple(f[:, -1] for f in frames) if time_dim else frames
        parts = [self.normalizer.normalize(key, x) for key, x in raw.items()]
        if not parts:  # image only: an empty low-dim part keeps the shapes uniform
            return images.new_zeros(images.shape[: 2 if time_dim else 1] + (0,), dtype=torch.float32), images, None
        lowdim = torch.cat(parts, dim=-1)
        if images is not None and images.shape[: lowdim.ndim - 1] != lowdim.shape[:-1]:
            raise HiwmError(f"{IMAGE_KEY}: batch/time dims {tuple(images.shape[:lowdim.ndim - 1])} do not match "
                            f"the other features' {tuple(lowdim.shape[:-1])}")
        return lowdim, images, frame

    def forward(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Training loss. batch: obs keys (B, n_obs_steps, D), action (B, horizon, A), action_is_pad (B, horizon).

        Images are randomly cropped while the module is in training mode (the augmentation).
        """
        cfg = self.config
        lowdim, images, frame = self._read_obs(batch, time_dim=True)
        if lowdim.shape[1] != cfg.n_obs_steps:
            raise HiwmError(f"observations have {lowdim.shape[1]} time steps, policy expects n_obs_steps={cfg.n_obs_steps}")
        action = self._tensor(batch, ACTION_KEY)
        if frame is not None:  # the chunk in the newest observation's frame
            action = self.task_frame.action_to_frame(action, tuple(f[:, None] for f in frame))
        action = self.normalizer.normalize(ACTION_KEY, action)
        if action.shape[1:] != (cfg.horizon, cfg.action_dim):
            raise HiwmError(f"action: expected (B, {cfg.horizon}, {cfg.action_dim}), got {tuple(action.shape)}")
        if PAD_KEY in batch:
            is_pad = torch.as_tensor(batch[PAD_KEY], device=self.device).bool()
        else:
            is_pad = torch.zeros(action.shape[:2], dtype=torch.bool, device=self.device)
        obs = self.obs_encoder(lowdim, images, augment=self.training)
        return self.compute_loss(obs, action, is_pad)

    def _chunk(self, lowdim: torch.Tensor, images: torch.Tensor | None, generator: torch.Generator | None,
               frame: Frame | None = None) -> torch.Tensor:
        """lowdim: (B, T_obs, F_low) normalised, images: (B, T_obs, H, W, 3) uint8 or None, frame: the newest
        step's task frame ((B, 2) each) or None -> raw actions to execute (B, n_action_steps, A), world units."""
        was_training = self.training
        self.eval()  # acting never uses dropout, even from a module left in training mode
        try:
            obs = self.obs_encoder(lowdim, images, augment=False)
            # Training windows (data/windows.py) put the action taken at the newest observation first.
            actions = self.generate(obs, generator)[:, : self.config.n_action_steps]
        finally:
            self.train(was_training)
        actions = self.normalizer.unnormalize(ACTION_KEY, actions)
        if frame is not None:
            actions = self.task_frame.action_to_world(actions, tuple(f[:, None].to(actions.dtype) for f in frame))
        return actions

    @torch.inference_mode()
    def predict_action_chunk(self, batch: Mapping[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
        """batch: key -> (B, n_obs_steps, D) (image (B, n_obs_steps, H, W, 3) uint8) -> actions (B, n_action_steps, A), raw units."""
        lowdim, images, frame = self._read_obs(batch, time_dim=True)
        if lowdim.shape[1] != self.config.n_obs_steps:
            raise HiwmError(f"observations have {lowdim.shape[1]} time steps, policy expects n_obs_steps={self.config.n_obs_steps}")
        return self._chunk(lowdim, images, generator, frame)

    def initial_state(self, batch_size: int) -> PolicyState:
        """The state before the first step: empty history, no queued actions."""
        f, a = self.config.lowdim_dim, self.config.action_dim
        return PolicyState(
            obs_history=torch.zeros(batch_size, 0, f, device=self.device),
            actions=torch.zeros(batch_size, 0, a, device=self.device),
            count=0,
        )

    def _push(self, state: PolicyState, obs: Mapping[str, Any]
              ) -> tuple[torch.Tensor, torch.Tensor | None, Frame | None]:
        """The state's histories with one more step ``obs`` (key -> (B, D), image (B, H, W, 3)), padded to
        n_obs_steps, and that step's task frame (or None)."""
        lowdim, images, frame = self._read_obs(obs, time_dim=False)
        if lowdim.shape[0] != state.batch_size:
            raise HiwmError(f"observation batch size {lowdim.shape[0]} does not match the policy state's {state.batch_size}")
        t_obs = self.config.n_obs_steps
        history = push_history(state.obs_history, lowdim, t_obs)
        image_history = push_history(state.images, images, t_obs) if images is not None else None
        return history, image_history, frame

    @torch.inference_mode()
    def act(
        self, state: PolicyState, obs: Mapping[str, Any], generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, PolicyState]:
        """One control step. obs: key -> (B, D) -> (action (B, A), new state); ``state`` is left untouched.

        A new chunk is predicted (using ``generator``) only when the queue is empty, i.e. every
        n_action_steps steps; in between the queued actions are returned and ``generator`` is unused.
        """
        history, images, frame = self._push(state, obs)
        queue = state.actions.to(history.device)
        if queue.shape[1] == 0:
            queue = self._chunk(history, images, generator, frame)
        return queue[:, 0], PolicyState(history, queue[:, 1:], state.count + 1, images)

    @torch.inference_mode()
    def observe(self, state: PolicyState, obs: Mapping[str, Any]) -> PolicyState:
        """Record an observation without acting (someone else acts this step). obs: key -> (B, D).

        The history stays current and the queued actions are dropped, so when control is handed back
        the policy predicts a fresh chunk from what actually happened.
        """
        history, images, _ = self._push(state, obs)
        return PolicyState(history, state.actions[:, :0].to(history.device), state.count + 1, images)

    def reset(self) -> None:
        """Forget the wrapper's state (a new episode)."""
        self._state = None

    def select_action(self, obs: Mapping[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
        """obs: key -> (B, D) -> action (B, A); keeps its state between calls until ``reset``."""
        if self._state is None:
            first = self.config.input_features[0]
            if first not in obs:
                raise HiwmError(f"{self.config.type} policy: observation has no {first!r} (has: {', '.join(sorted(obs))})")
            self._state = self.initial_state(len(obs[first]))
        action, self._state = self.act(self._state, obs, generator)
        return action

    def save(self, directory: str | Path) -> Path:
        """Write config.json + model.safetensors (weights and normalisation stats) atomically."""
        from hiwm.policies.checkpoint import save_policy

        return save_policy(self, directory)


__all__ = ["ACTION_KEY", "PAD_KEY", "Policy", "PolicyConfig", "PolicyState"]
