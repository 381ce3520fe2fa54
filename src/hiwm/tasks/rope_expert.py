"""The Route Rope scripted expert: take the head, lead it through clip 1, then through clip 2.

It decides every step from the observation alone (no plan carried between steps), so it takes over
any state, a world model's prediction included:

* **Not holding the head** (open, or closed on something else): open if closed, fly above the head at
  :data:`HOVER`, drop to :data:`LOW` when above it, close when the head is within :data:`TAKE` of the
  gripper's centre.
* **Holding the head**: the next clip is the first one not yet passed in order (the task's own
  ``route_status``). The route's direction is from clip 1 to clip 2; each gate is crossed along its
  normal turned that way. Before the gate, line up on its centre line :data:`LEAD` before it, then push
  straight through to :data:`LEAD` beyond it, the head at :data:`CARRY` (below the posts' tops). A head
  that ended up beyond a gate without passing it goes round the nearer post first.
* **Routed**: open and rise (the episode normally ends on success before this).

``skill < 1`` adds Gaussian noise to the targets, an aiming error across each gate, and now and then
opens the gripper by mistake; all drawn from ``self.rng``.
"""

from __future__ import annotations

import numpy as np

from hiwm.tasks.base import Expert
from hiwm.tasks.mujoco_gripper import ACTION_HIGH, ACTION_LOW
from hiwm.tasks.registry import EXPERTS
from hiwm.tasks.rope import GATE_HALF, HEAD, RopeRouteTask, gates_of, nodes_of, route_status

HOVER = 0.05      # travel height of the empty gripper, m
LOW = 0.008       # gripper height when taking the head (the head's centre is at 6 mm), m
TAKE = 0.012      # close when the head is this near the gripper's centre, m
HOLD = 0.015      # the head counts as held when closed and this near, m
CARRY = 0.015     # head height while routing, m
LEAD = 0.06       # line up this far before a gate; push through to this far beyond, m
ALIGN = 0.006     # lateral error allowed before pushing through, m


def gate_frame(gates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gates (2, 2, 2), clip index k -> (centre (2,), across (2,), normal (2,)), the normal pointing
    along the route (from clip 1 towards clip 2)."""
    centre = gates[k].mean(0)
    across = gates[k, 1] - gates[k, 0]
    across = across / np.linalg.norm(across)
    normal = np.array([-across[1], across[0]])
    route = gates[1].mean(0) - gates[0].mean(0)
    return centre, across, normal if normal @ route >= 0 else -normal


@EXPERTS.register("rope-route")
class RopeExpert(Expert):
    """See the module docstring."""

    def reset(self) -> None:
        self._aim = [0.0, 0.0]  # lateral aiming error per gate (skill < 1), m
        if self.skill < 1.0:
            self._aim = list(self.rng.normal(0.0, 0.008 * (1.0 - self.skill), 2))

    def __init__(self, skill: float = 1.0, seed: int = 0):
        super().__init__(skill, seed)
        self.reset()

    def act(self, obs: dict) -> np.ndarray:
        """obs: observation dict -> action [x, y, z, grasp] (4,)."""
        scene = RopeRouteTask.scene_of(obs)
        grip, closed = scene[:3], scene[3] >= 0.5
        head = nodes_of(scene)[HEAD]
        k, _ = route_status(scene)
        if k == 2:
            target, grasp = np.array([grip[0], grip[1], HOVER]), 0.0
        elif not (closed and np.linalg.norm(head - grip) < HOLD):
            target, grasp = self._take(grip, closed, head)
        else:
            target, grasp = np.array([*self._route(grip[:2], gates_of(scene), k), CARRY]), 1.0
        if self.skill < 1.0:
            target[:2] += self.rng.normal(0.0, 0.01 * (1.0 - self.skill), 2)
            if grasp and self.rng.random() < 0.02 * (1.0 - self.skill):
                grasp = 0.0  # fumbles
        return np.clip(np.array([*target, grasp]), ACTION_LOW, ACTION_HIGH)

    @staticmethod
    def _take(grip: np.ndarray, closed: bool, head: np.ndarray) -> tuple[np.ndarray, float]:
        if closed:  # holding nothing, or the wrong node: let go first
            return np.array([grip[0], grip[1], min(grip[2] + 0.02, HOVER)]), 0.0
        if np.linalg.norm(head - grip) < TAKE:
            return np.array([head[0], head[1], LOW]), 1.0
        above = np.linalg.norm(head[:2] - grip[:2]) < 0.01
        return np.array([head[0], head[1], LOW if above else HOVER]), 0.0

    def _route(self, at: np.ndarray, gates: np.ndarray, k: int) -> np.ndarray:
        """Gripper xy (2,) -> the next xy target on the way through gate k."""
        centre, across, normal = gate_frame(gates, k)
        centre = centre + across * self._aim[k]
        s, t = (at - centre) @ normal, (at - centre) @ across
        if s > 0.02 and abs(t) < GATE_HALF + 0.02:  # beyond the gate without passing it: round a post
            return centre + across * np.sign(t or 1.0) * (GATE_HALF + 0.04) + normal * s
        if s > -0.005 and abs(t) >= GATE_HALF + 0.02:  # beside the gate: back to the near side first
            return centre + across * t - normal * LEAD
        if abs(t) <= ALIGN or (s > -LEAD + 0.01 and abs(t) <= 2 * ALIGN):
            return centre + normal * LEAD
        return centre - normal * LEAD
