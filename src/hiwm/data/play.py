"""Play behaviour: the world model's training data beyond expert demos.

A world model only learns what its data shows. Expert demos show clean pushes; a policy being
corrected will wander, stall, push the T into walls and fail, so the model must have seen those too
(the Hi-WM paper: workspace-edge data at ~30% of the regular volume already helped). Play switches
every few seconds between behaviours:

* ``expert``: the expert at a random skill (sloppy but purposeful, many contacts);
* ``poke``:   go to a random point on the object and push through it in a random direction; with a
  gripper (rope, towel): take hold of that point, drag it somewhere, let go;
* ``wander``: a smooth random walk of the target, mostly free motion (a gripper's height wanders too,
  and it opens and closes now and then);
* ``edge``:   drive towards a random point near the workspace edge (pushing or dragging what is in the way).

Distances are set for Push-T's 512-pixel workspace and scaled to the task's (its action box in x, y).
The task tells where its agent and object are (``Task.play_points``) and whether it has a gripper.
"""

from __future__ import annotations

import numpy as np

from hiwm.tasks.base import Expert, TaskSpec
from hiwm.tasks.registry import TASKS

BEHAVIOURS = ("expert", "poke", "wander", "edge")
WEIGHTS = np.array([0.4, 0.3, 0.15, 0.15])
REFERENCE_SPAN = 512.0  # the workspace the distances below are written for (Push-T's pixels)


class PlayActor:
    """An action source for play data; ``act(obs, scene)`` -> action (A,). Randomness from ``seed``."""

    def __init__(self, spec: TaskSpec, expert: Expert, seed: int):
        self.spec, self.expert = spec, expert
        self.task = TASKS.get(spec.name)
        self.rng = np.random.default_rng(seed)
        self.low, self.high = np.asarray(spec.action_low), np.asarray(spec.action_high)
        self.xy_low, self.xy_high = self.low[:2], self.high[:2]
        self.scale = float((self.xy_high - self.xy_low).mean() / REFERENCE_SPAN)  # 1.0 for Push-T
        self._behaviour, self._left, self._target, self._vel = "wander", 0, None, np.zeros(2)
        self._height, self._grasp = 0.5, 0.0  # gripper only: height as a fraction of its range, grasp command

    def _choose(self, scene: np.ndarray) -> None:
        self._behaviour = str(self.rng.choice(BEHAVIOURS, p=WEIGHTS))
        self._left = int(self.rng.integers(15, 45))
        span = self.xy_high - self.xy_low
        if self._behaviour == "expert":
            self.expert.skill = float(self.rng.uniform(0.3, 1.0))
            self.expert.reset()
        elif self._behaviour == "poke":
            direction = self.rng.normal(size=2)
            direction /= np.linalg.norm(direction) + 1e-9
            _, points = self.task.play_points(scene)
            obj = points[0] if len(points) == 1 else points[self.rng.integers(len(points))]
            if self.task.gripper:  # (xy, height, grasp): above it, down, close, drag, let go
                end = obj + direction * self.rng.uniform(0, 110) * self.scale
                self._target = [(obj, 0.3, 0.0), (obj, 0.0, 0.0), (obj, 0.0, 1.0),
                                (end, self.rng.uniform(0.0, 0.4), 1.0), (end, 0.0, 0.0)]
            else:
                self._target = [obj - direction * self.rng.uniform(60, 110) * self.scale,
                                obj + direction * self.rng.uniform(0, 60) * self.scale]
        elif self._behaviour == "edge":
            t = self.xy_low + self.rng.uniform(0, 1, 2) * span
            side = self.rng.integers(4)
            edge = (self.xy_low if side < 2 else self.xy_high)[side % 2]
            t[side % 2] = edge + (0.04 if side < 2 else -0.04) * span[side % 2]
            self._target = [(t, self._height, self._grasp)] if self.task.gripper else [t]
        else:
            self._vel = self.rng.normal(0, 0.03, 2) * span

    def act(self, obs: dict, scene: np.ndarray) -> np.ndarray:
        if self._left <= 0:
            self._choose(scene)
        self._left -= 1
        agent, _ = self.task.play_points(scene)
        if self._behaviour == "expert":
            return np.clip(self.expert.act(obs), self.low, self.high)
        if self._behaviour == "wander":
            self._vel = 0.85 * self._vel + self.rng.normal(0, 0.015, 2) * (self.xy_high - self.xy_low)
            xy = np.clip(agent + self._vel, self.xy_low, self.xy_high)
            if self.task.gripper:
                self._height = float(np.clip(self._height + self.rng.normal(0, 0.1), 0.0, 1.0))
                if self.rng.random() < 0.05:
                    self._grasp = 1.0 - self._grasp
            return self._action(xy)
        goal = self._target[0]
        goal_xy = goal[0] if self.task.gripper else goal
        if len(self._target) > 1 and self._reached(goal_xy, agent, scene):
            self._target.pop(0)
            goal = self._target[0]
            goal_xy = goal[0] if self.task.gripper else goal
        if self.task.gripper:
            self._height, self._grasp = goal[1], goal[2]
        step = goal_xy - agent
        dist = np.linalg.norm(step)
        limit = 35 * self.scale  # teleop-like speed
        step = step if dist < limit else step / dist * limit
        return self._action(np.clip(agent + step + self.rng.normal(0, 2 * self.scale, 2), self.xy_low, self.xy_high))

    def _reached(self, goal_xy: np.ndarray, agent: np.ndarray, scene: np.ndarray) -> bool:
        """Near the waypoint; with a gripper (scene starts [x, y, z, closed]) also at its height and grasp."""
        near = np.linalg.norm(goal_xy - agent) < 12 * self.scale
        if not self.task.gripper:
            return near
        z = self.low[2] + self._height * (self.high[2] - self.low[2])
        return near and abs(scene[2] - z) < 0.1 * (self.high[2] - self.low[2]) and scene[3] == self._grasp

    def _action(self, xy: np.ndarray) -> np.ndarray:
        if not self.task.gripper:
            return xy
        z = self.low[2] + self._height * (self.high[2] - self.low[2])
        return np.array([xy[0], xy[1], z, self._grasp])
