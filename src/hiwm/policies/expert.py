"""The task's scripted expert as a policy no one trained: an outside point for world-model evaluation.

    policy = ExpertPolicy("pusht", skill=0.3, delay=0, seed=0)   # the rollout interface of a trained policy
    rollout(env, policy, seeds, max_steps)

It reads the object's state from the observation it is handed: the simulator's, or a world model's prediction
(a pixel model's perception head's reading), so the same policy is judged in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from hiwm.errors import HiwmError
from hiwm.tasks import ENV_KEY, STATE_KEY, action_layout, make_expert, task_class

# Policies nobody trained for the task (``evaluation.outsiders``): the expert with heavy noise, and the expert
# acting on what it saw a few steps ago.
OUTSIDERS = {"noisy_expert": {"skill": 0.3, "delay": 0}, "late_expert": {"skill": 1.0, "delay": 4}}


@dataclass
class ExpertConfig:
    type: str = "expert"
    input_features: list[str] = field(default_factory=lambda: [STATE_KEY, ENV_KEY])


@dataclass
class ExpertState:
    experts: list
    queue: list = field(default_factory=list)  # (B, A) actions decided but not yet sent, oldest first


class ExpertPolicy:
    def __init__(self, task: str, skill: float = 1.0, delay: int = 0, seed: int = 0):
        if delay < 0:
            raise HiwmError(f"expert delay must be >= 0 steps, got {delay}")
        self.task, self.skill, self.delay, self.seed = task, skill, delay, seed
        self.spec = task_class(task).spec_
        self.layout = action_layout(self.spec)
        self.config = ExpertConfig()

    @classmethod
    def outsider(cls, task: str, name: str, seed: int = 0) -> ExpertPolicy:
        if name not in OUTSIDERS:
            raise HiwmError(f"unknown outsider policy {name!r} (known: {', '.join(OUTSIDERS)})")
        return cls(task, seed=seed, **OUTSIDERS[name])

    def initial_state(self, batch_size: int) -> ExpertState:
        return ExpertState([make_expert(self.task, skill=self.skill, seed=self.seed + i) for i in range(batch_size)])

    def input_tensors(self, obs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        missing = [k for k in self.config.input_features if k not in obs]
        if missing:
            raise HiwmError(f"expert policy: observation has no {missing} (has: {', '.join(sorted(obs))})")
        return {k: np.asarray(obs[k], dtype=np.float64) for k in self.config.input_features}

    def act(self, state: ExpertState, obs: Mapping[str, np.ndarray], generator=None) -> tuple[torch.Tensor, ExpertState]:
        """obs: key -> (B, D) -> (action (B, A), state). With a delay, the first steps hold the robot still (or,
        where the robot's state does not read as an action, repeat the first decision)."""
        now = np.stack([e.act({k: v[i] for k, v in obs.items()}) for i, e in enumerate(state.experts)])
        if not state.queue and self.delay:
            rest = np.asarray(obs[STATE_KEY])[:, :self.spec.action_dim] if self.layout.agent_is_action else now
            state.queue = [rest] * self.delay
        state.queue.append(now)
        return torch.as_tensor(state.queue.pop(0), dtype=torch.float32), state
