"""Policy play: world-model training data from the policy's own state distribution.

Hi-WM's corrections start where the base policy goes wrong: stalls, the T pressed against a wall, a
pose the demonstrations never show. Expert demos and play (data/play.py) rarely visit those states, so
the world model is least accurate exactly where the operator acts. Policy play runs the base policy in
the simulator and hands over to play behaviours (data/play.py: sloppy expert pushes, pokes, wandering,
edges) for stretches now and then, so the data holds the policy's failure states *and* what pushing out
of them does. It costs simulator ("robot") steps and no person; the pipeline reports them.
"""

from __future__ import annotations

import numpy as np
import torch

from hiwm.data.play import PlayActor
from hiwm.tasks.base import Expert, TaskSpec


class PolicyPlayActor:
    """``act(obs, scene)`` -> action (A,): the policy for 20-60 step stretches (probability
    ``policy_share``; each starts from an empty history, so even at share 1 the policy restarts every 20-60
    steps), play behaviours in between. ``sources`` lists who chose each action so far
    ("policy" or "play"). Randomness (switching, play, the policy's sampling) from ``seed``."""

    def __init__(self, policy, spec: TaskSpec, expert: Expert, seed: int, policy_share: float = 0.7):
        if not 0.0 <= policy_share <= 1.0:
            raise ValueError(f"policy_share must be in [0, 1], got {policy_share}")
        self.policy, self.policy_share = policy, policy_share
        self.play = PlayActor(spec, expert, seed)
        self.rng = np.random.default_rng([seed, 1])
        self.generator = torch.Generator(device="cpu").manual_seed(int(seed))
        self.sources: list[str] = []
        self._mode, self._left, self._state = "policy", 0, None

    def _switch(self) -> None:
        self._mode = "policy" if self.rng.random() < self.policy_share else "play"
        self._left = int(self.rng.integers(20, 61))
        if self._mode == "policy":  # every policy stretch starts afresh (empty history, no queued actions), as
            self._state = self.policy.initial_state(1)  # an episode does; a stretch after play must, the others do too
        else:
            self.play._left = 0  # a new play behaviour, chosen on its next act

    def act(self, obs: dict, scene: np.ndarray) -> np.ndarray:
        if self._left <= 0:
            self._switch()
        self._left -= 1
        self.sources.append(self._mode)
        if self._mode == "play":
            return self.play.act(obs, scene)
        batch = self.policy.input_tensors({k: np.asarray(v)[None] for k, v in obs.items()})
        with torch.no_grad():
            action, self._state = self.policy.act(self._state, batch, generator=self.generator)
        return action[0].detach().cpu().numpy().astype(np.float64)
