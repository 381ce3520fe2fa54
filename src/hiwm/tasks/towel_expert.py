"""The Fold Towel scripted expert: take corner K00 and swing it over onto K22.

A floppy towel folds cleanly when the held corner turns about the fold line (the other diagonal,
through K02 and K20) as if the flap were rigid: the corner stays within reach of the crease and
nothing drags the lower layer. So the corner follows a half ellipse over the fold line, from K00's side
to K22, at most :data:`STEP` radians further each control step, :data:`ARC` times as high as it is wide.

It decides every step from the observation alone (the current position on the arc is read off the
gripper's position relative to the fold line), so it takes over any state:

* **Folded** (the task's own success test): open and rise.
* **Not holding K00**: open if closed; fly above K00 at :data:`HOVER`, drop to :data:`LOW`, close when
  K00 is within :data:`TAKE` of the gripper.
* **Holding K00**: the next point on the arc; near its end, go down onto K22 and open there.

``skill < 1`` adds Gaussian noise to the targets, flattens or heightens the arc, and now and then lets
go of the corner by mistake; all drawn from ``self.rng``.
"""

from __future__ import annotations

import math

import numpy as np

from hiwm.tasks.base import Expert
from hiwm.tasks.mujoco_gripper import ACTION_HIGH, ACTION_LOW
from hiwm.tasks.registry import EXPERTS
from hiwm.tasks.towel import TowelFoldTask, keypoints_of

HOVER = 0.04      # travel height of the empty gripper, m
LOW = 0.004       # gripper height when taking the corner (vertex centres are at 3 mm), m
TAKE = 0.008      # close when the corner is this near the gripper's centre, m
HOLD = 0.015      # the corner counts as held when closed and this near, m
ARC = 0.6         # height of the arc over its half width
STEP = math.pi / 24  # arc advance per control step, rad
PLACE = 0.012     # height over K22 at which the corner is let go, m


@EXPERTS.register("towel-fold")
class TowelExpert(Expert):
    """See the module docstring."""

    def __init__(self, skill: float = 1.0, seed: int = 0):
        super().__init__(skill, seed)
        self.reset()

    def reset(self) -> None:
        self._arc = ARC
        if self.skill < 1.0:
            self._arc = ARC * float(np.exp(self.rng.normal(0.0, 0.5 * (1.0 - self.skill))))

    def act(self, obs: dict) -> np.ndarray:
        """obs: observation dict -> action [x, y, z, grasp] (4,)."""
        scene = TowelFoldTask.scene_of(obs)
        grip, closed = scene[:3], scene[3] >= 0.5
        kp = keypoints_of(scene)
        corner = kp[0, 0]
        if TowelFoldTask.is_success(scene) and not (closed and np.linalg.norm(corner - grip) < HOLD):
            target, grasp = np.array([grip[0], grip[1], HOVER]), 0.0
        elif not (closed and np.linalg.norm(corner - grip) < HOLD):
            target, grasp = self._take(grip, closed, corner)
        else:
            target, grasp = self._fold(grip, kp)
        if self.skill < 1.0:
            target[:2] += self.rng.normal(0.0, 0.01 * (1.0 - self.skill), 2)
            if grasp and self.rng.random() < 0.02 * (1.0 - self.skill):
                grasp = 0.0  # lets go too early
        return np.clip(np.array([*target, grasp]), ACTION_LOW, ACTION_HIGH)

    @staticmethod
    def _take(grip: np.ndarray, closed: bool, corner: np.ndarray) -> tuple[np.ndarray, float]:
        if closed:
            return np.array([grip[0], grip[1], min(grip[2] + 0.02, HOVER)]), 0.0
        if np.linalg.norm(corner - grip) < TAKE:
            return np.array([corner[0], corner[1], LOW]), 1.0
        above = np.linalg.norm(corner[:2] - grip[:2]) < 0.008
        return np.array([corner[0], corner[1], LOW if above else HOVER]), 0.0

    def _fold(self, grip: np.ndarray, kp: np.ndarray) -> tuple[np.ndarray, float]:
        """Holding K00: the next target on the arc over the fold line (K02-K20) towards K22."""
        goal = kp[2, 2]
        centre = (kp[0, 2, :2] + kp[2, 0, :2]) / 2
        along = goal[:2] - centre
        half = float(np.linalg.norm(along))
        if half < 1e-6:  # a crumpled towel with K22 on the fold line: just go there
            return np.array([goal[0], goal[1], PLACE]), 1.0
        along /= half
        angle = math.acos(float(np.clip(-((grip[:2] - centre) @ along) / half, -1.0, 1.0)))
        if angle >= math.pi - STEP / 2:
            near = np.linalg.norm(grip[:2] - goal[:2]) < 0.01 and grip[2] < PLACE + 0.004
            return np.array([goal[0], goal[1], PLACE]), 0.0 if near else 1.0
        nxt = min(angle + STEP, math.pi)
        xy = centre - along * half * math.cos(nxt)
        return np.array([xy[0], xy[1], LOW + self._arc * half * math.sin(nxt) + (PLACE - LOW) * nxt / math.pi]), 1.0
