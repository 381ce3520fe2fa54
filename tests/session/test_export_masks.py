"""What a corrections dataset adds to training: the corrective steps, a successful branch's recovery, and a
successful policy re-run from a hand-back node (its correction lies on an ancestor branch)."""

import numpy as np

from hiwm.data import DatasetWriter
from hiwm.session.export import correction_episodes, correction_features
from hiwm.tasks.pusht import PushTTask


def _frames(T, corrective, on_branch_from, success_at):
    t = np.arange(T)
    return {
        "observation.state": np.zeros((T, 2), np.float32), "observation.environment_state": np.zeros((T, 16), np.float32),
        "action": np.zeros((T, 2), np.float32), "next.reward": np.zeros(T, np.float32),
        "next.success": t >= success_at, "next.done": t == T - 1, "next.uncertainty": np.zeros(T, np.float32),
        "intervention": (t >= corrective[0]) & (t < corrective[1]),
        "source": np.where((t >= corrective[0]) & (t < corrective[1]), "operator", "policy").astype(object),
        "node_id": t, "parent_node_id": t - 1, "branch_id": np.ones(T, np.int64),
        "on_branch": t >= on_branch_from, "wm_checkpoint": np.full(T, "x", dtype=object),
    }


def _branch(T, corrective, on_branch_from, success_at, outcome, writer):
    writer.add_episode(_frames(T, corrective, on_branch_from, success_at), task="t", meta={"outcome": outcome})


def test_masks_hold_corrections_and_successful_recoveries(tmp_path):
    with DatasetWriter.create(tmp_path, fps=10, features=correction_features(PushTTask.spec_)) as w:
        _branch(30, (10, 15), 10, 22, "success", w)   # corrected at 10-14, judged success from step 22
        _branch(30, (10, 15), 10, 99, "failure", w)   # corrected, then failed anyway
        _branch(30, (5, 8), 10, 99, "failure", w)     # a re-run from the hand-back at 8 that failed: nothing
        _branch(30, (5, 8), 10, 25, "success", w)     # one that succeeded: its own steps up to success
    eps = correction_episodes(tmp_path)
    assert len(eps) == 3
    np.testing.assert_array_equal(np.flatnonzero(eps[0]["train_mask"]), np.arange(10, 23))  # correction + recovery
    np.testing.assert_array_equal(np.flatnonzero(eps[1]["train_mask"]), np.arange(10, 15))  # correction only
    np.testing.assert_array_equal(np.flatnonzero(eps[2]["train_mask"]), np.arange(10, 26))
    only = correction_episodes(tmp_path, outcomes=False)
    assert len(only) == 2, "without outcomes a re-run adds nothing"
    np.testing.assert_array_equal(np.flatnonzero(only[0]["train_mask"]), np.arange(10, 15))
