"""The rollout tree: every imagined step is a node that caches what is needed to continue from it.

A node holds the world model's state and the policy's internal state as values, plus the predicted
observation there. Rolling back is looking a node up; branching is stepping from it. Neither ever
re-simulates, so both cost the same at depth 1 000 as at depth 10 (benchmarks/run.py measures it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hiwm.errors import HiwmError

if TYPE_CHECKING:
    from hiwm.world_models.base import WorldModelState

SOURCES = ("initial", "policy", "operator")
OUTCOMES = ("unjudged", "success", "failure")


@dataclass(frozen=True)
class Node:
    """One imagined step.

    ``action`` led from the parent into this node (None at the root); ``source`` says who chose it and
    ``intervention`` is True for operator steps. ``obs`` is the predicted observation here (dict of
    (D,) arrays), ``wm_state`` (the world model kind's ``WorldModelState``) / ``policy_state`` are batch-1
    values to continue from; the tree never looks inside them.
    """

    id: int
    parent_id: int  # -1 at the root
    depth: int
    branch_id: int
    obs: dict
    wm_state: WorldModelState
    policy_state: Any
    action: np.ndarray | None = None
    source: str = "initial"
    intervention: bool = False
    progress: float = 0.0
    uncertainty: float = 0.0
    success: bool = False


@dataclass
class Branch:
    id: int
    root_node: int  # the node the branch starts from (its first new node's parent)
    leaf: int  # its newest node
    outcome: str = "unjudged"
    keep: bool | None = None  # None: no decision yet
    info: dict = field(default_factory=dict)


class RolloutTree:
    def __init__(self):
        self.nodes: dict[int, Node] = {}
        self.children: dict[int, list[int]] = {}
        self.branches: dict[int, Branch] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def add_root(self, obs: dict, wm_state: WorldModelState, policy_state, progress: float = 0.0,
                 uncertainty: float = 0.0) -> Node:
        if self.nodes:
            raise HiwmError("the tree already has a root")
        node = Node(0, -1, 0, 0, obs, wm_state, policy_state, progress=progress, uncertainty=uncertainty)
        self._insert(node)
        self.branches[0] = Branch(0, root_node=0, leaf=0)
        return node

    def child(self, parent_id: int, branch_id: int, **fields) -> Node:
        """The node a step from ``parent_id`` on ``branch_id`` makes (not yet in the tree: see ``add``)."""
        parent = self.get(parent_id)
        if branch_id not in self.branches:
            raise HiwmError(f"unknown branch {branch_id}")
        return Node(len(self.nodes), parent_id, parent.depth + 1, branch_id, **fields)

    def add(self, node: Node) -> None:
        """Insert the next node (a new step, or a stored one when resuming); it becomes its branch's leaf."""
        if node.id != len(self.nodes):
            raise HiwmError(f"node {node.id} is out of order (expected {len(self.nodes)})")
        if node.branch_id not in self.branches:
            raise HiwmError(f"unknown branch {node.branch_id}")
        self._insert(node)
        self.branches[node.branch_id].leaf = node.id

    def _insert(self, node: Node) -> None:
        self.nodes[node.id] = node
        self.children.setdefault(node.id, [])
        if node.parent_id >= 0:
            self.children[node.parent_id].append(node.id)

    def make_branch(self, from_node: int) -> Branch:
        """A new branch starting at ``from_node`` (not yet in the tree: see ``add_branch``)."""
        self.get(from_node)
        return Branch(len(self.branches), root_node=from_node, leaf=from_node)

    def add_branch(self, b: Branch) -> None:
        if b.id != len(self.branches):
            raise HiwmError(f"branch {b.id} is out of order (expected {len(self.branches)})")
        self.branches[b.id] = b

    def get(self, node_id: int) -> Node:
        try:
            return self.nodes[int(node_id)]
        except (KeyError, ValueError, TypeError):
            raise HiwmError(f"unknown node id {node_id!r}") from None

    def branch(self, branch_id: int) -> Branch:
        try:
            return self.branches[int(branch_id)]
        except (KeyError, ValueError, TypeError):
            raise HiwmError(f"unknown branch id {branch_id!r}") from None

    def ancestor(self, node_id: int, steps_back: int) -> Node:
        """The node ``steps_back`` steps above (stops at the root)."""
        node = self.get(node_id)
        for _ in range(max(0, steps_back)):
            if node.parent_id < 0:
                break
            node = self.nodes[node.parent_id]
        return node

    def path(self, node_id: int) -> list[Node]:
        """Root ... node, in order."""
        out = []
        node = self.get(node_id)
        while True:
            out.append(node)
            if node.parent_id < 0:
                break
            node = self.nodes[node.parent_id]
        return out[::-1]
