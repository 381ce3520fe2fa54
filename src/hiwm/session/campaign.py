"""A Hi-WM correction campaign: scripted-operator sessions over the protocol's initial states.

Each initial state (seeds 20 000 - 20 999) gets one session with its own log under
``<out>/sessions/<seed>.jsonl``; when a session ends, its corrective branches are appended to the
corrections dataset and a ``<seed>.done`` marker is written. The campaign stops when the operator's
budget B is spent. Killed part-way, a rerun skips the finished sessions; a session that was cut off
mid-way is rebuilt from its log for inspection (``Session.resume_from``) but redone from its start
(the operator is deterministic given its seed, so this reproduces it) and its partial log is kept
beside as ``<seed>.jsonl.partial``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from hiwm.session.engine import Session, SessionConfig
from hiwm.session.export import export_branches, exportable_branches
from hiwm.session.operators import OperatorConfig, OperatorStats, ScriptedOperator

log = logging.getLogger(__name__)


def run_campaign(policy, world_model, seeds: list[int], out_dir: str | Path, config: OperatorConfig,
                 seed: int = 0, progress: bool = True, max_steps: int | None = None) -> dict:
    """Returns the cost summary: operator_steps, failure_states, branches, sessions, robot_steps, resets.

    In a learned world model robot_steps and resets are 0; in the simulator (``SimulatorModel``, Real
    HG-DAgger) every step taken counts as a robot step and every session as a reset.
    """
    out = Path(out_dir)
    sessions_dir = out / "sessions"
    sessions_dir.mkdir(parents=True, exist_ok=True)
    task = world_model.task
    data_root = out / "corrections"
    operator = ScriptedOperator(task.spec_.name, config, seed=seed)
    done_stats = OperatorStats()
    events: list[dict] = []
    n_sessions = 0
    robot_steps = 0  # steps taken in the simulator: only a SimulatorModel (Real HG-DAgger) spends any
    bar = tqdm(seeds, desc="hi-wm sessions", disable=not progress, leave=False)
    for s in bar:
        marker = sessions_dir / f"{s}.done"
        if marker.exists():
            rec = json.loads(marker.read_text())
            for k, v in rec["stats"].items():
                setattr(done_stats, k, getattr(done_stats, k) + v)
            events.extend(rec["events"])
            robot_steps += rec.get("robot_steps", 0)
            n_sessions += 1
            operator.stats.operator_steps = done_stats.operator_steps
            continue
        if operator.budget_left < config.horizon:
            break
        log_path = sessions_dir / f"{s}.jsonl"
        if log_path.exists():
            os.replace(log_path, log_path.with_suffix(".jsonl.partial"))
        before = OperatorStats(**asdict(operator.stats))
        sim_before = getattr(world_model, "steps_taken", 0)
        operator.events = []
        obs0 = world_model.observation_for_seed(s)
        session = Session.start(policy, world_model, obs0, SessionConfig(max_steps=max_steps or task.spec_.max_steps, seed=seed + s),
                                log_path=log_path, meta={"initial_seed": s})
        operator.run(session)
        export_branches(session.tree, exportable_branches(session.tree), data_root, task.spec_,
                        world_model.checkpoint_id(), session=str(s), meta={"initial_seed": s}, world_model=world_model)
        session.log.close()
        delta = {k: getattr(operator.stats, k) - getattr(before, k) for k in asdict(before)}
        for k, v in delta.items():
            setattr(done_stats, k, getattr(done_stats, k) + v)
        events.extend({"seed": s, **e} for e in operator.events)
        spent = getattr(world_model, "steps_taken", 0) - sim_before
        robot_steps += spent
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"stats": delta, "events": [{"seed": s, **e} for e in operator.events],
                                   "robot_steps": spent}))
        os.replace(tmp, marker)
        n_sessions += 1
        bar.set_postfix(steps=operator.stats.operator_steps, failures=operator.stats.failure_states)
    bar.close()
    on_robot = robot_steps > 0
    return {**asdict(done_stats), "sessions": n_sessions, "robot_steps": robot_steps,
            "resets": n_sessions if on_robot else 0, "events": events,
            "dataset": str(data_root)}
