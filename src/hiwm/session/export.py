"""Export of rollout-tree branches to a LeRobotDataset, with provenance on every frame.

``export_branches`` is the one function the studio and the scripted operator both write through
(tests/studio/test_parity.py drives both), so a person's corrections and the scripted operator's give
the same rows for the same actions; a branch already exported with the same leaf is skipped.

A branch is exported as one episode: the path from the root to the branch's leaf. Frame i shows the
predicted observation at node i and the action taken from it (into node i+1); ``source`` and
``intervention`` say who chose that action, ``node_id`` / ``parent_node_id`` place the frame in the tree,
``branch_id`` names the exported branch and ``wm_checkpoint`` the world model that imagined it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hiwm.data import DatasetWriter, LeRobotDataset, standard_features
from hiwm.session.tree import RolloutTree
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY, TaskSpec

log = logging.getLogger(__name__)


def correction_features(spec: TaskSpec, image_size: int | None = None) -> dict:
    """Standard features plus ``on_branch``: the frame's step belongs to the exported branch itself
    (False for the prefix it shares with its ancestors), so training can count each step once; and
    ``next.uncertainty``: the world model's own uncertainty figure for the step (ensemble disagreement;
    0 in the simulator), so imagined outcomes can be judged by how far the model was trusted."""
    f = standard_features(spec.agent_dim, spec.action_dim, env_dim=spec.env_dim, image_size=image_size)
    f["on_branch"] = {"dtype": "bool", "shape": (1,), "names": None}
    f["next.uncertainty"] = {"dtype": "float32", "shape": (1,), "names": None}
    return f


def branch_frames(tree: RolloutTree, branch_id: int, wm_checkpoint: str, world_model=None) -> dict[str, np.ndarray]:
    """Columns (T,) / (T, D) for the path root -> leaf of ``branch_id`` (T = leaf depth); with a ``world_model``
    that models pixels, also the frames it predicted at each node (T, S, S, 3), what the operator saw."""
    path = tree.path(tree.branch(branch_id).leaf)
    if len(path) < 2:
        return {}
    src, dst = path[:-1], path[1:]
    frames = None if world_model is None else world_model.frame(type(src[0].wm_state).cat([n.wm_state for n in src]))
    return ({} if frames is None else {IMAGE_KEY: frames}) | {
        STATE_KEY: np.stack([n.obs[STATE_KEY] for n in src]).astype(np.float32),
        ENV_KEY: np.stack([n.obs[ENV_KEY] for n in src]).astype(np.float32),
        "action": np.stack([n.action for n in dst]).astype(np.float32),
        "next.reward": np.array([n.progress for n in dst], np.float32),
        "next.success": np.array([n.success for n in dst], bool),
        "next.uncertainty": np.array([n.uncertainty for n in dst], np.float32),
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


def correction_episodes(roots, outcomes: bool = True) -> list[dict]:
    """Episodes of corrections datasets with ``train_mask``: what each branch adds itself to training.

    Always the branch's own corrective steps. With ``outcomes`` (the protocol: "the corrective segments and
    the branches' outcomes are added"), a branch the judge called successful also adds the policy's own
    steps after the hand-back, up to the first step judged a success: the recovery the correction made
    possible. Windows start only on masked steps and only their actions count in the loss
    (data/windows.py), so a step shared by a branch and its descendants is learned once.
    """
    out = []
    for root in [roots] if isinstance(roots, (str, bytes)) or hasattr(roots, "__fspath__") else roots:
        ds = LeRobotDataset(root)
        for i in range(ds.num_episodes):
            ep = ds.episode(i)  # frames decoded: an image policy trains on what the model showed
            own = np.asarray(ep.get("on_branch", np.ones(len(ep["action"]), bool)), bool)
            mask = ep["intervention"] & own
            # where the branch's own learning starts: its first corrective step, or, for a policy continuation
            # branched from a hand-back node (its correction lies on an ancestor branch), its first own step
            starts = np.flatnonzero(mask) if mask.any() else \
                np.flatnonzero(own) if ep["intervention"][~own].any() else []
            if outcomes and len(starts) and ds.episodes[i].get("outcome") == "success":
                t = np.arange(len(mask))
                done = np.flatnonzero(ep["next.success"] & (t >= starts[0]))
                end = done[0] if len(done) else len(mask) - 1
                mask = mask | (own & (t >= starts[0]) & (t <= end))
            ep["train_mask"] = mask
            if mask.any():
                out.append(ep)
    return out


def exported_leaves(root: str | Path, session: str) -> set[tuple[int, int]]:
    """(branch_id, leaf) pairs of ``session`` already in the dataset at ``root`` (empty if none)."""
    root = Path(root)
    if not (root / "meta" / "info.json").is_file():
        return set()
    return {(int(r["branch_id"]), int(r["leaf"])) for r in LeRobotDataset(root).episodes
            if r.get("session") == session and r.get("leaf") is not None}


def export_branches(tree: RolloutTree, branch_ids: list[int], root: str | Path, spec: TaskSpec,
                    wm_checkpoint: str, session: str, meta: dict | None = None, world_model=None) -> list[dict]:
    """Append each branch (root -> leaf path, see session/export.py) as one episode at ``root``.

    Creates the dataset with ``correction_features(spec)`` if needed. Returns one record per episode
    written: {"branch", "leaf", "episode", "frames", "interventions"}; already exported ones are skipped.
    """
    root = Path(root)
    done = exported_leaves(root, session)
    todo = [b for b in branch_ids if (b, tree.branch(b).leaf) not in done]
    if not todo:
        return []
    pixels = world_model is not None and world_model.frame(tree.get(0).wm_state) is not None
    writer = DatasetWriter.open(root) if (root / "meta" / "info.json").is_file() else DatasetWriter.create(
        root, fps=spec.fps, features=correction_features(spec, world_model.config.image_size if pixels else None))
    out = []
    try:
        for b in todo:
            branch = tree.branch(b)
            frames = branch_frames(tree, b, wm_checkpoint, world_model if pixels else None)
            if not frames:
                continue
            # a dataset begun before a column existed (``next.uncertainty``) keeps its own columns
            frames = {k: v for k, v in frames.items() if k in writer.features}
            ep = writer.add_episode(frames, task=spec.description or spec.name, meta={
                **(meta or {}), "session": session, "branch_id": b, "leaf": branch.leaf, "outcome": branch.outcome})
            out.append({"branch": b, "leaf": branch.leaf, "episode": ep, "frames": len(frames["action"]),
                        "interventions": int(frames["intervention"].sum())})
            log.info("exported branch %d (%d frames) as episode %d of %s", b, len(frames["action"]), ep, root)
    finally:
        writer.close()
    return out
