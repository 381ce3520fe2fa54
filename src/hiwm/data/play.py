"""Play behaviour: the world model's training data beyond expert demos.

A world model only learns what its data shows. Expert demos show clean pushes; a policy being
corrected will wander, stall, push the T into walls and fail, so the model must have seen those too
(the Hi-WM paper: workspace-edge data at ~30% of the regular volume already helped). Play switches
every few seconds between behaviours:

* ``expert``: the expert at a random skill (sloppy but purposeful pushing, many contacts);
* ``poke``:   go to a random point beside the object and push through it in a random direction;
* ``wander``: a smooth random walk of the target, mostly free motion;
* ``edge``:   drive towards a random point near the workspace edge (pushing whatever is in the way).
"""

from __future__ import annotations

import numpy as np

from hiwm.tasks.base import Expert, TaskSpec

BEHAVIOURS = ("expert", "poke", "wander", "edge")
WEIGHTS = np.array([0.4, 0.3, 0.15, 0.15])


class PlayActor:
    """An action source for play data; ``act(obs, scene)`` -> action (A,). Randomness from ``seed``.

    ``scene`` is the task's scene vector (for Push-T: agent xy, object xy, angle); the behaviours only use
    the agent and object positions, so they fit any task whose scene starts with those.
    """

    def __init__(self, spec: TaskSpec, expert: Expert, seed: int):
        self.spec, self.expert = spec, expert
        self.rng = np.random.default_rng(seed)
        self.low, self.high = np.asarray(spec.action_low), np.asarray(spec.action_high)
        self._behaviour, self._left, self._target, self._vel = "wander", 0, None, np.zeros(2)

    def _choose(self, scene: np.ndarray) -> None:
        self._behaviour = str(self.rng.choice(BEHAVIOURS, p=WEIGHTS))
        self._left = int(self.rng.integers(15, 45))
        span = self.high - self.low
        if self._behaviour == "expert":
            self.expert.skill = float(self.rng.uniform(0.3, 1.0))
            self.expert.reset()
        elif self._behaviour == "poke":
            direction = self.rng.normal(size=2)
            direction /= np.linalg.norm(direction) + 1e-9
            obj = scene[2:4]
            self._target = [obj - direction * self.rng.uniform(60, 110), obj + direction * self.rng.uniform(0, 60)]
        elif self._behaviour == "edge":
            t = self.low + self.rng.uniform(0, 1, 2) * span
            side = self.rng.integers(4)
            t[side % 2] = (self.low if side < 2 else self.high)[side % 2] + (0.04 if side < 2 else -0.04) * span[side % 2]
            self._target = [t]
        else:
            self._vel = self.rng.normal(0, 0.03, 2) * span

    def act(self, obs: dict, scene: np.ndarray) -> np.ndarray:
        if self._left <= 0:
            self._choose(scene)
        self._left -= 1
        agent = scene[:2]
        if self._behaviour == "expert":
            return np.clip(self.expert.act(obs), self.low, self.high)
        if self._behaviour == "wander":
            self._vel = 0.85 * self._vel + self.rng.normal(0, 0.015, 2) * (self.high - self.low)
            return np.clip(agent + self._vel, self.low, self.high)
        goal = self._target[0]
        if np.linalg.norm(goal - agent) < 12 and len(self._target) > 1:
            self._target.pop(0)
            goal = self._target[0]
        step = goal - agent
        dist = np.linalg.norm(step)
        step = step if dist < 35 else step / dist * 35  # teleop-like speed
        return np.clip(agent + step + self.rng.normal(0, 2, 2), self.low, self.high)
