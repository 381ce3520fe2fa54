"""Hand-made scenes per registered task: one that must pass the task's success test, one that must fail.

Every task in the registry needs an entry here (tests/tasks/test_registry.py checks that), so a new
task cannot be registered without its success test being exercised.
"""

from __future__ import annotations

import numpy as np

from hiwm.tasks.pusht import GOAL_POSE
from hiwm.tasks.rope import N_NODES, RADIUS, SPACING
from hiwm.tasks.towel import KP_INDEX, flat_vertices

GRIPPER_UP = [0.0, -0.2, 0.08, 0.0]
# clip 1 across x = 0, clip 2 across x = 0.15 (posts at y = +-2.5 cm)
GATES = [0.0, -0.025, 0.0, 0.025, 0.15, -0.025, 0.15, 0.025]


def straight_rope(z: float = RADIUS, reverse: bool = False) -> np.ndarray:
    """A rope along +x from x = -0.295 (tail) to x = 0.185 (head), through both gates."""
    x = -0.295 + SPACING * np.arange(N_NODES)
    nodes = np.column_stack([x, np.full(N_NODES, 0.004), np.full(N_NODES, z)])
    return np.concatenate([GRIPPER_UP, GATES, (nodes[::-1] if reverse else nodes).ravel()])


def folded_towel(lift: float = 0.004) -> np.ndarray:
    """The ideal diagonal fold of an unturned towel: K00 laid onto K22, the flap mirrored over the
    K02-K20 diagonal, ``lift`` above the lower layer."""
    kp = flat_vertices((0.0, 0.0), 0.0)[KP_INDEX].reshape(3, 3, 3)
    folded = kp.copy()
    for a in range(3):
        for b in range(3):
            if a + b < 2:
                folded[a, b, :2] = kp[2 - b, 2 - a, :2]
                folded[a, b, 2] += lift
    return np.concatenate([GRIPPER_UP, folded.ravel()])


def success_scene(name: str) -> np.ndarray:
    return SCENES[name][0]()


def failure_scene(name: str) -> np.ndarray:
    return SCENES[name][1]()


SCENES = {
    "pusht": (lambda: np.array([100.0, 100.0, *GOAL_POSE]), lambda: np.array([100.0, 100.0, 400.0, 400.0, 0.0])),
    "rope-route": (straight_rope, lambda: straight_rope(reverse=True)),
    "towel-fold": (folded_towel, lambda: np.concatenate([GRIPPER_UP, flat_vertices((0.0, 0.0), 0.3)[KP_INDEX].ravel()])),
}
