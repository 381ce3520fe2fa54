"""Export of rollout-tree branches to a corrections LeRobotDataset: the one function the studio and the
scripted-operator path both go through (tests/studio/test_parity.py drives both), so a person's
corrections and the scripted operator's give the same rows for the same actions.

Each episode's meta records ``session``, ``branch_id``, ``leaf`` and ``outcome``; a branch already
exported with the same leaf is skipped, so pressing export twice never duplicates an episode (the
dataset itself is the record of what was exported: nothing else to keep in sync).
"""

from __future__ import annotations

import logging
from pathlib import Path

from hiwm.data import DatasetWriter, LeRobotDataset
from hiwm.session.export import branch_frames, correction_features
from hiwm.session.tree import RolloutTree
from hiwm.tasks.base import TaskSpec

log = logging.getLogger(__name__)


def exported_leaves(root: str | Path, session: str) -> set[tuple[int, int]]:
    """(branch_id, leaf) pairs of ``session`` already in the dataset at ``root`` (empty if none)."""
    root = Path(root)
    if not (root / "meta" / "info.json").is_file():
        return set()
    return {(int(r["branch_id"]), int(r["leaf"])) for r in LeRobotDataset(root).episodes
            if r.get("session") == session and r.get("leaf") is not None}


def export_branches(tree: RolloutTree, branch_ids: list[int], root: str | Path, spec: TaskSpec,
                    wm_checkpoint: str, session: str, meta: dict | None = None) -> list[dict]:
    """Append each branch (root -> leaf path, see session/export.py) as one episode at ``root``.

    Creates the dataset with ``correction_features(spec)`` if needed. Returns one record per episode
    written: {"branch", "leaf", "episode", "frames", "interventions"}; already exported ones are skipped.
    """
    root = Path(root)
    done = exported_leaves(root, session)
    todo = [b for b in branch_ids if (b, tree.branch(b).leaf) not in done]
    if not todo:
        return []
    writer = DatasetWriter.open(root) if (root / "meta" / "info.json").is_file() else \
        DatasetWriter.create(root, fps=spec.fps, features=correction_features(spec))
    out = []
    try:
        for b in todo:
            branch = tree.branch(b)
            frames = branch_frames(tree, b, wm_checkpoint)
            if not frames:
                continue
            ep = writer.add_episode(frames, task=spec.description or spec.name, meta={
                **(meta or {}), "session": session, "branch_id": b, "leaf": branch.leaf, "outcome": branch.outcome})
            out.append({"branch": b, "leaf": branch.leaf, "episode": ep, "frames": len(frames["action"]),
                        "interventions": int(frames["intervention"].sum())})
            log.info("exported branch %d (%d frames) as episode %d of %s", b, len(frames["action"]), ep, root)
    finally:
        writer.close()
    return out
