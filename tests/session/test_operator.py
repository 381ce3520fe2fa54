"""Scripted operator: takes over on disagreement/stall, rolls back r, K branches of H steps; campaign resume."""

import json

import numpy as np
import pytest

from hiwm.data import LeRobotDataset
from hiwm.session.campaign import run_campaign
from hiwm.session.engine import Session, SessionConfig
from hiwm.session.operators import FailureDetector, OperatorConfig, ScriptedOperator


def test_failure_detector_disagreement_and_stall():
    cfg = OperatorConfig(disagree=10, patience=3, warmup=2, stall_steps=5, stall_gain=0.05)
    d = FailureDetector(cfg)
    same = np.zeros(2)
    assert [d.update(same, same, 0.1 * i) for i in range(5)] == [None] * 5
    far = np.array([50.0, 0.0])
    assert [d.update(far, same, 0.6) for _ in range(3)][-1] == "disagreement"
    d = FailureDetector(cfg)
    reasons = [d.update(same, same, 0.3) for _ in range(9)]
    assert reasons[-1] == "stall" and reasons[:5] == [None] * 5


def test_failure_detector_risk_counts_on_entering_only():
    cfg = OperatorConfig(disagree=10, patience=3, warmup=2, stall_steps=50, stall_gain=0.05, risk=True)
    same = np.zeros(2)
    d = FailureDetector(cfg)  # entering risk during the warm-up is caught right after it
    assert [d.update(same, same, 0.0, at_risk=r) for r in (False, True, True)] == [None, None, "risk"]
    d = FailureDetector(cfg)  # handed back at risk: only a new entry counts
    assert [d.update(same, same, 0.0, at_risk=r) for r in (True,) * 4 + (False, True)] == [None] * 5 + ["risk"]
    off = FailureDetector(OperatorConfig(**{**cfg.__dict__, "risk": False}))
    assert [off.update(same, same, 0.0, at_risk=r) for r in (False, True, True)] == [None] * 3


def test_failure_detector_regress_fires_when_closeness_falls_below_its_best():
    cfg = OperatorConfig(disagree=10, patience=3, warmup=2, stall_steps=50, stall_gain=0.05, regress=0.1)
    same = np.zeros(2)
    d = FailureDetector(cfg)  # rising, then a dip of 0.08 (tolerated), then 0.12 below the best of 0.5
    path = [0.2, 0.3, 0.4, 0.5, 0.42, 0.45, 0.38]
    assert [d.update(same, same, 0.0, closeness=c) for c in path] == [None] * 6 + ["regress"]
    d = FailureDetector(cfg)  # the best seen in the warm-up counts too
    assert [d.update(same, same, 0.0, closeness=c) for c in (0.6, 0.4, 0.45)] == [None, None, "regress"]
    off = FailureDetector(OperatorConfig(**{**cfg.__dict__, "regress": 0.0}))
    assert [off.update(same, same, 0.0) for _ in path] == [None] * len(path)
    with pytest.raises(ValueError, match="closeness"):
        FailureDetector(cfg).update(same, same, 0.0)


def test_operator_protocol_on_one_session(policy, world_model, obs0):
    cfg = OperatorConfig(horizon=4, rollback=3, branches=3, budget=12, disagree=0.0, patience=1, warmup=5,
                         max_corrections=1)
    s = Session.start(policy, world_model, obs0, SessionConfig(max_steps=30, seed=0))
    op = ScriptedOperator("pusht", cfg, seed=0)
    stats = op.run(s)
    assert stats.failure_states == 1 and stats.branches == 3 and stats.operator_steps == 12
    event = op.events[0]
    assert event["depth"] == s.tree.get(event["node"]).depth - 3, "rolled back r steps"
    fork = s.tree.get(event["rolled_back_to"])
    kids = s.tree.children[fork.id]
    assert len(kids) == 4  # the original continuation + K corrective branches
    corrective = [k for k in kids if s.tree.get(k).intervention]
    assert len(corrective) == 3
    for k in corrective:  # H operator steps, then the policy again
        path = [s.tree.get(k)]
        while s.tree.children[path[-1].id]:
            path.append(s.tree.get(s.tree.children[path[-1].id][0]))
        assert [n.intervention for n in path[:5]] == [True] * 4 + [False]
        assert path[-1].depth == 30, "every branch runs to its end and is judged"
    assert all(s.tree.branches[b].outcome in ("success", "failure") for b in range(1, 4))


def test_campaign_writes_corrections_and_resumes(policy, world_model, tmp_path):
    cfg = OperatorConfig(horizon=3, rollback=2, branches=2, budget=12, disagree=0.0, patience=1, warmup=3)
    seeds = [20000, 20001, 20002, 20003]
    cost = run_campaign(policy, world_model, seeds, tmp_path, cfg, progress=False, max_steps=12)
    assert cost["robot_steps"] == 0 and cost["operator_steps"] == 12
    ds = LeRobotDataset(tmp_path / "corrections")
    assert ds.column("intervention").sum() >= 12
    done = sorted(p.name for p in (tmp_path / "sessions").glob("*.done"))
    # "the process died" during the last session: its marker is gone, its log is partial
    last = tmp_path / "sessions" / done[-1]
    last.unlink()
    again = run_campaign(policy, world_model, seeds, tmp_path, cfg, progress=False, max_steps=12)
    assert again["operator_steps"] == 12 and again["sessions"] == cost["sessions"]
    assert (tmp_path / "sessions" / (done[-1].replace(".done", ".jsonl.partial"))).exists()
    assert json.loads(last.read_text())["stats"]["operator_steps"] > 0


def test_thresholds_default_to_the_tasks_own_units():
    from hiwm.tasks import TASKS, task_class

    for name in TASKS.names():
        spec = task_class(name).spec_
        cfg = OperatorConfig().for_task(spec)
        assert cfg.disagree > 0 and cfg.patience >= 1 and cfg.warmup >= 0 and cfg.stall_steps >= 1
    assert OperatorConfig().for_task(task_class("pusht").spec_).disagree == 60.0  # px
    assert OperatorConfig().for_task(task_class("pusht").spec_).risk is True
    assert OperatorConfig().for_task(task_class("rope-route").spec_).risk is False, "a task without at_risk: off"
    rope = OperatorConfig().for_task(task_class("rope-route").spec_)
    assert rope.disagree < 0.25, "metres, well inside the 0.5 m workspace"
    assert OperatorConfig(disagree=1.0).for_task(task_class("rope-route").spec_).disagree == 1.0, "explicit wins"


def test_missing_or_wrong_task_defaults_are_one_line_errors():
    from hiwm.errors import HiwmError
    from hiwm.tasks import TaskSpec

    bare = TaskSpec("bare", 10, 10, (0.0,), (1.0,), 1, 1, 2)
    with pytest.raises(HiwmError, match="no operator default for 'disagree'"):
        OperatorConfig().for_task(bare)
    with pytest.raises(HiwmError, match="action_weights"):
        OperatorConfig(disagree=1, patience=1, stall_steps=1, stall_gain=0.1, warmup=0,
                       action_weights=(1.0, 1.0)).for_task(bare)


def test_gripper_disagreement_weighs_position_and_grasp():
    from hiwm.tasks import task_class

    cfg = OperatorConfig(warmup=0, patience=1).for_task(task_class("rope-route").spec_)
    here = np.array([0.0, 0.0, 0.02, 1.0])
    near = here + [0.02, 0.0, 0.0, 0.0]  # 2 cm off: the same intent
    assert FailureDetector(cfg).update(near, here, 0.1) is None
    far = here + [0.1, 0.0, 0.0, 0.0]  # 10 cm off
    assert FailureDetector(cfg).update(far, here, 0.1) == "disagreement"
    let_go = np.array([0.0, 0.0, 0.02, 0.0])  # same place, but opening while the expert holds on
    assert FailureDetector(cfg).update(let_go, here, 0.1) == "disagreement"
