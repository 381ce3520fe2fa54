"""The shared policy interface: a config dataclass, an immutable acting state, and the Policy base.

Two ways to act, one implementation:

* functional, for the Hi-WM session engine, which stores the state in rollout-tree nodes so that a
  rollback or a new branch resumes from a cached value instead of re-simulating::

      state = policy.initial_state(batch_size)
      action, state = policy.act(state, obs, generator)      # obs: key -> (B, D)

* LeRobot-style ``select_action(obs)`` / ``reset()``, a thin wrapper that holds one such state.

Training batches: key -> (B, T_obs, D) observations, ``action`` (B, horizon, A) and
``action_is_pad`` (B, horizon) bool. A window's actions start at its newest observation (data/windows.py),
so the first executed action is chunk index 0 (the current step).
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
from hiwm.policies.normalize import Normalizer
from hiwm.tasks.base import ENV_KEY, STATE_KEY


ACTION_KEY = "action"
PAD_KEY = "action_is_pad"


@dataclass
class PolicyConfig:
    """Fields every backbone shares; a backbone subclasses this and sets ``type``."""

    type: str = ""
    input_features: list[str] = field(default_factory=lambda: [STATE_KEY, ENV_KEY])
    n_obs_steps: int = 2
    horizon: int = 16
    n_action_steps: int = 8
    action_dim: int = 2
    feature_dims: dict[str, int] = field(default_factory=dict)  # input feature -> D
    device: str = "cpu"

    def validate(self) -> None:
        """Raise a one-line HiwmError on an inconsistent config."""
        missing = [k for k in self.input_features if k not in self.feature_dims]
        if missing:
            raise HiwmError(f"{self.type} policy: feature_dims has no size for {missing} (give feature_dims={{key: D}})")
        for name in ("n_obs_steps", "horizon", "n_action_steps", "action_dim"):
            if int(getattr(self, name)) < 1:
                raise HiwmError(f"{self.type} policy: {name} must be >= 1, got {getattr(self, name)}")
        if self.n_action_steps > self.horizon:
            raise HiwmError(f"{self.type} policy: n_action_steps ({self.n_action_steps}) exceeds horizon ({self.horizon})")

    @property
    def obs_dim(self) -> int:
        """F: the width of one normalised observation step (input features concatenated in order)."""
        return sum(int(self.feature_dims[k]) for k in self.input_features)

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


@dataclass(frozen=True)
class PolicyState:
    """Everything a policy remembers between steps, as a value.

    obs_history: (B, T, F) normalised observations, T <= n_obs_steps (0 before the first step)
    actions:     (B, n_left, A) raw actions still queued from the last predicted chunk
    count:       steps acted so far

    ``act`` never writes into these tensors, so a state held by a rollout-tree node stays valid
    however often it is branched from.
    """

    obs_history: torch.Tensor
    actions: torch.Tensor
    count: int = 0

    @property
    def batch_size(self) -> int:
        return self.obs_history.shape[0]

    def select(self, index: int | slice | torch.Tensor) -> "PolicyState":
        """The sub-batch at ``index`` (a slice or index tensor keeps the batch dim; an int keeps it too)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return PolicyState(self.obs_history[index], self.actions[index], self.count)

    def to(self, device: torch.device | str) -> "PolicyState":
        return PolicyState(self.obs_history.to(device), self.actions.to(device), self.count)


class Policy(nn.Module, abc.ABC):
    """Base class. A backbone implements ``compute_loss`` and ``generate`` on normalised tensors.

    Subclasses set ``config_class`` and register themselves in ``POLICIES``. Normalisation, the
    acting state, batching conventions and checkpoints live here so every backbone behaves alike.
    """

    config_class: ClassVar[type[PolicyConfig]] = PolicyConfig

    def __init__(self, config: PolicyConfig):
        super().__init__()
        config.validate()
        self.config = config
        dims = {k: int(config.feature_dims[k]) for k in config.input_features}
        self.normalizer = Normalizer({**dims, ACTION_KEY: int(config.action_dim)})
        self._state: PolicyState | None = None  # only for the select_action / reset wrapper

    # ---- what a backbone implements (normalised space) ----
    @abc.abstractmethod
    def compute_loss(
        self, obs: torch.Tensor, action: torch.Tensor, action_is_pad: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """obs: (B, T_obs, F), action: (B, horizon, A), action_is_pad: (B, horizon) -> (scalar loss, info)."""

    @abc.abstractmethod
    def generate(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """obs: (B, T_obs, F) -> normalised actions (B, horizon, A)."""

    # ---- shared machinery ----
    @property
    def device(self) -> torch.device:
        return next(self.buffers()).device

    def set_stats(self, stats: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Dataset statistics, key -> {"min", "max", "mean", "std"}: (D,), for every input feature and ``action``."""
        self.normalizer.set_stats(stats)

    def _tensor(self, batch: Mapping[str, Any], key: str) -> torch.Tensor:
        if key not in batch:
            raise HiwmError(f"{self.config.type} policy: batch has no {key!r} (has: {', '.join(sorted(batch))})")
        return torch.as_tensor(batch[key], dtype=torch.float32, device=self.device)

    def _encode_obs(self, batch: Mapping[str, Any], time_dim: bool) -> torch.Tensor:
        """key -> (B, T, D) (or (B, D) without ``time_dim``) -> normalised, concatenated (B, T, F) / (B, F)."""
        parts = []
        for key in self.config.input_features:
            x = self._tensor(batch, key)
            want = (3 if time_dim else 2, self.config.feature_dims[key])
            if (x.ndim, x.shape[-1]) != want:
                shape = "(B, T_obs, D)" if time_dim else "(B, D)"
                raise HiwmError(f"{key}: expected {shape} with D={want[1]}, got {tuple(x.shape)}")
            parts.append(self.normalizer.normalize(key, x))
        return torch.cat(parts, dim=-1)

    def forward(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Training loss. batch: obs keys (B, n_obs_steps, D), action (B, horizon, A), action_is_pad (B, horizon)."""
        cfg = self.config
        obs = self._encode_obs(batch, time_dim=True)
        if obs.shape[1] != cfg.n_obs_steps:
            raise HiwmError(f"observations have {obs.shape[1]} time steps, policy expects n_obs_steps={cfg.n_obs_steps}")
        action = self.normalizer.normalize(ACTION_KEY, self._tensor(batch, ACTION_KEY))
        if action.shape[1:] != (cfg.horizon, cfg.action_dim):
            raise HiwmError(f"action: expected (B, {cfg.horizon}, {cfg.action_dim}), got {tuple(action.shape)}")
        if PAD_KEY in batch:
            is_pad = torch.as_tensor(batch[PAD_KEY], device=self.device).bool()
        else:
            is_pad = torch.zeros(action.shape[:2], dtype=torch.bool, device=self.device)
        return self.compute_loss(obs, action, is_pad)

    def _chunk(self, obs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """obs: (B, T_obs, F) normalised -> raw actions to execute (B, n_action_steps, A)."""
        # Training windows (data/windows.py) put the action taken at the newest observation first.
        actions = self.generate(obs, generator)[:, : self.config.n_action_steps]
        return self.normalizer.unnormalize(ACTION_KEY, actions)

    @torch.no_grad()
    def predict_action_chunk(self, batch: Mapping[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
        """batch: key -> (B, n_obs_steps, D) -> actions (B, n_action_steps, A), raw units."""
        obs = self._encode_obs(batch, time_dim=True)
        if obs.shape[1] != self.config.n_obs_steps:
            raise HiwmError(f"observations have {obs.shape[1]} time steps, policy expects n_obs_steps={self.config.n_obs_steps}")
        return self._chunk(obs, generator)

    def initial_state(self, batch_size: int) -> PolicyState:
        """The state before the first step: empty history, no queued actions."""
        f, a = self.config.obs_dim, self.config.action_dim
        return PolicyState(
            obs_history=torch.zeros(batch_size, 0, f, device=self.device),
            actions=torch.zeros(batch_size, 0, a, device=self.device),
            count=0,
        )

    @torch.no_grad()
    def act(
        self, state: PolicyState, obs: Mapping[str, Any], generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, PolicyState]:
        """One control step. obs: key -> (B, D) -> (action (B, A), new state); ``state`` is left untouched.

        A new chunk is predicted (using ``generator``) only when the queue is empty, i.e. every
        n_action_steps steps; in between the queued actions are returned and ``generator`` is unused.
        """
        x = self._encode_obs(obs, time_dim=False)  # (B, F)
        b, t_obs = x.shape[0], self.config.n_obs_steps
        if b != state.batch_size:
            raise HiwmError(f"observation batch size {b} does not match the policy state's {state.batch_size}")
        history = torch.cat([state.obs_history.to(x.device), x[:, None]], dim=1)[:, -t_obs:]
        if history.shape[1] < t_obs:
            # Before enough steps exist, the first observation stands in for the missing past.
            pad = history[:, :1].expand(b, t_obs - history.shape[1], history.shape[2])
            history = torch.cat([pad, history], dim=1)
        queue = state.actions.to(x.device)
        if queue.shape[1] == 0:
            queue = self._chunk(history, generator)
        return queue[:, 0], PolicyState(history, queue[:, 1:], state.count + 1)

    @torch.no_grad()
    def observe(self, state: PolicyState, obs: Mapping[str, Any]) -> PolicyState:
        """Record an observation without acting (someone else acts this step). obs: key -> (B, D).

        The history stays current and the queued actions are dropped, so when control is handed back
        the policy predicts a fresh chunk from what actually happened.
        """
        x = self._encode_obs(obs, time_dim=False)
        b, t_obs = x.shape[0], self.config.n_obs_steps
        history = torch.cat([state.obs_history.to(x.device), x[:, None]], dim=1)[:, -t_obs:]
        if history.shape[1] < t_obs:
            history = torch.cat([history[:, :1].expand(b, t_obs - history.shape[1], history.shape[2]), history], dim=1)
        return PolicyState(history, state.actions[:, :0].to(x.device), state.count + 1)

    def reset(self) -> None:
        """Forget the wrapper's state (a new episode)."""
        self._state = None

    def select_action(self, obs: Mapping[str, Any], generator: torch.Generator | None = None) -> torch.Tensor:
        """obs: key -> (B, D) -> action (B, A); keeps its state between calls until ``reset``."""
        if self._state is None:
            first = self._tensor(obs, self.config.input_features[0])
            self._state = self.initial_state(first.shape[0])
        action, self._state = self.act(self._state, obs, generator)
        return action

    def save(self, directory: str | Path) -> Path:
        """Write config.json + model.safetensors (weights and normalisation stats) atomically."""
        from hiwm.policies.checkpoint import save_policy

        return save_policy(self, directory)
