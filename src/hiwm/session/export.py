"""Export of rollout-tree branches to a LeRobotDataset, with provenance on every frame.

A branch is exported as one episode: the path from the root to the branch's leaf. Frame i shows the
predicted observation at node i and the action taken from it (into node i+1); ``source`` and
``intervention`` say who chose that action, ``node_id`` / ``parent_node_id`` place the frame in the tree,
``branch_id`` names the exported branch and ``wm_checkpoint`` the world model that imagined it.
"""

from __future__ import annotations

import numpy as np

from hiwm.data import standard_features
from hiwm.session.tree import RolloutTree
from hiwm.tasks.base import ENV_KEY, STATE_KEY, TaskSpec


def correction_features(spec: TaskSpec) -> dict:
    """Standard features plus ``on_branch``: the frame's step belongs to the exported branch itself
    (False for the prefix it shares with its ancestors), so training can count each step once."""
    f = standard_features(spec.agent_dim, spec.action_dim, env_dim=spec.env_dim)
    f["on_branch"] = {"dtype": "bool", "shape": (1,), "names": None}
    return f


def branch_frames(tree: RolloutTree, branch_id: int, wm_checkpoint: str) -> dict[str, np.ndarray]:
    """Columns (T,) / (T, D) for the path root -> leaf of ``branch_id`` (T = leaf depth)."""
    path = tree.path(tree.branch(branch_id).leaf)
    if len(path) < 2:
        return {}
    src, dst = path[:-1], path[1:]
    return {
        STATE_KEY: np.stack([n.obs[STATE_KEY] for n in src]).astype(np.float32),
        ENV_KEY: np.stack([n.obs[ENV_KEY] for n in src]).astype(np.float32),
        "action": np.stack([n.action for n in dst]).astype(np.float32),
        "next.reward": np.array([n.progress for n in dst], np.float32),
        "next.success": np.array([n.success for n in dst], bool),
        "next.done": np.arange(len(dst)) == len(dst) - 1,
        "intervention": np.array([n.intervention for n in dst], bool),
        "source": np.array([n.source for n in dst], dtype=object),
        "node_id": np.array([n.id for n in src], np.int64),
        "parent_node_id": np.array([n.parent_id for n in src], np.int64),
        "branch_id": np.full(len(src), branch_id, np.int64),
        "on_branch": np.array([n.branch_id == branch_id for n in dst], bool),
        "wm_checkpoint": np.full(len(src), wm_checkpoint, dtype=object),
    }


def exportable_branches(tree: RolloutTree, only_kept: bool = False) -> list[int]:
    """Branches that contain corrective steps (or were explicitly kept); discarded ones never."""
    out = []
    for b in tree.branches.values():
        if b.keep is False or (only_kept and b.keep is not True):
            continue
        path = tree.path(b.leaf)
        if b.keep is True or any(n.intervention for n in path if n.branch_id == b.id):
            out.append(b.id)
    return out


def correction_episodes(roots) -> list[dict]:
    """Episodes of corrections datasets with ``train_mask``: the corrective steps each branch adds itself.

    Windows start only on those steps and only their actions count in the loss (data/windows.py), so a
    correction shared by a branch and its descendants is learned once.
    """
    from hiwm.data import LeRobotDataset

    out = []
    for root in [roots] if isinstance(roots, (str, bytes)) or hasattr(roots, "__fspath__") else roots:
        ds = LeRobotDataset(root)
        for i in range(ds.num_episodes):
            ep = ds.episode(i, decode_images=False)
            ep["train_mask"] = ep["intervention"] & ep.get("on_branch", True)
            if ep["train_mask"].any():
                out.append(ep)
    return out
