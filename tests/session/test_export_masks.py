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
    kept = correction_episodes(tmp_path, successful_only=True)
    assert [len(np.flatnonzero(e["train_mask"])) for e in kept] == [13, 16], "failed branches add nothing"


def test_a_recovery_stops_where_the_model_stops_being_trusted(tmp_path):
    with DatasetWriter.create(tmp_path, fps=10, features=correction_features(PushTTask.spec_)) as w:
        _branch(30, (10, 15), 10, 22, "success", w)
    with DatasetWriter.open(tmp_path) as w:  # the same branch, its model unsure from step 18 on
        T, t = 30, np.arange(30)
        ep = _frames(T, (10, 15), 10, 22)
        ep["next.uncertainty"] = np.where(t >= 18, 2.0, 0.5).astype(np.float32)
        ep["next.uncertainty"][12] = 5.0  # doubt during the correction itself does not cut it
        w.add_episode(ep, task="t", meta={"outcome": "success"})
    trusted, doubted = correction_episodes(tmp_path, max_uncertainty=1.0)
    np.testing.assert_array_equal(np.flatnonzero(trusted["train_mask"]), np.arange(10, 23))  # no doubt: as before
    np.testing.assert_array_equal(np.flatnonzero(doubted["train_mask"]), np.arange(10, 18))
