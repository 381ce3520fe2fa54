"""The scripted operator: the task's expert standing in for the person at the studio.

It watches the policy act inside the world model and sees only the model's predictions. It takes over
when its own action and the policy's disagree beyond a threshold for several steps in a row, or when
progress stalls; then it rolls back r steps from where it noticed, and from that one cached failure
state gives K corrective continuations of H steps each (the first at full skill, the others a little
varied, as a person's repeated attempts would be), handing back to the policy after each. The first
branch carries on and may be corrected again; the others run to their end, so each gets an outcome.
When it takes over is the task's business: the thresholds default to ``TaskSpec.extra["operator"]``
(Push-T: targets 60 px apart for 6 steps, no progress gain for 50, or the T entering the zone by a wall
(``Task.at_risk``); the gripper tasks: targets 6 cm apart,
a grasp command counting as 10 cm, for 3 steps, or no gain for 15, their episodes being 20-35 steps).

It only sends events to the session (session/engine.py), exactly as the studio does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from hiwm.errors import HiwmError
from hiwm.session.engine import Session
from hiwm.session.machine import Phase
from hiwm.tasks import TaskSpec, make_expert, task_class

log = logging.getLogger(__name__)


TASK_DEFAULTS = ("disagree", "action_weights", "patience", "stall_steps", "stall_gain", "warmup", "risk", "regress")
OPTIONAL_DEFAULTS = {"action_weights": None, "risk": False, "regress": 0.0}  # a task may leave these out


@dataclass
class OperatorConfig:
    """The protocol's H, r, K, B, and when to take over. Fields left at None take the task's defaults
    (``TaskSpec.extra["operator"]``: the thresholds are in the task's units), see ``for_task``."""

    horizon: int = 15  # H: corrective steps per branch
    rollback: int = 5  # r: steps back from where failure was noticed
    # K: corrective continuations per failure state. 1, not the protocol's 4: the scripted operator's extra branches
    # are the same expert with a little noise, so the budget does more spread over more failure states
    # (reports/pusht-diffusion-state, reports/towel-fold-diffusion-state)
    branches: int = 1
    budget: int = 1500  # B: corrective steps in all (the campaign shares one budget)
    disagree: float | None = None  # weighted action distance that counts as disagreement (Push-T: px; gripper: m)
    action_weights: tuple[float, ...] | None = None  # per action dim, applied before the distance (None: all 1)
    patience: int | None = None  # consecutive disagreeing steps before taking over
    stall_steps: int | None = None  # no progress gain over this many steps = stalled
    stall_gain: float | None = None
    warmup: int | None = None  # steps after the start or a hand-back before judging
    # also take over when the prediction enters a failure-prone scene (Task.at_risk; Push-T: the T against a wall),
    # which a person would catch long before progress stalls
    risk: bool | None = None
    # also take over when Task.closeness falls this far below its best since the watch began: the object pushed
    # away from the goal, which a person sees within seconds where a stall test waits stall_steps (0: off)
    regress: float | None = None
    branch_skill: float = 0.9  # expert skill on branches after the first (a person's repeated attempts vary)
    max_corrections: int = 3  # corrections along one main line (deeper failures are left)

    def for_task(self, spec: TaskSpec) -> "OperatorConfig":
        """A copy with every None threshold taken from the task's defaults; one missing is a HiwmError."""
        defaults = spec.extra.get("operator", {})
        filled = {}
        for name in TASK_DEFAULTS:
            if getattr(self, name) is None:
                if name not in defaults and name not in OPTIONAL_DEFAULTS:
                    raise HiwmError(f"{spec.name}: no operator default for {name!r}; set it in the operator config")
                filled[name] = defaults.get(name, OPTIONAL_DEFAULTS.get(name))
        out = replace(self, **filled)
        if out.action_weights is not None and len(out.action_weights) != spec.action_dim:
            raise HiwmError(f"{spec.name}: operator action_weights need {spec.action_dim} entries, got {out.action_weights}")
        return out


@dataclass
class OperatorStats:
    operator_steps: int = 0
    failure_states: int = 0
    branches: int = 0
    branch_successes: int = 0


class FailureDetector:
    """Decides when the rollout has become failure-prone, from predictions only."""

    def __init__(self, cfg: OperatorConfig):
        """cfg: with every threshold set (``OperatorConfig.for_task``)."""
        self.cfg = cfg
        self.weights = 1.0 if cfg.action_weights is None else np.asarray(cfg.action_weights, dtype=np.float64)
        self.disagreeing = 0
        self.progress: list[float] = []
        self.best_closeness = -np.inf
        self.safe_seen = False  # a scene not at risk watched: entering risk from here on counts

    def update(self, policy_action: np.ndarray, operator_action: np.ndarray, progress: float,
               at_risk: bool = False, closeness: float | None = None) -> str | None:
        """Actions (A,), the predicted progress after the step, whether that predicted scene is at risk
        (Task.at_risk) and its closeness (Task.closeness; needed when cfg.regress is on) -> "risk",
        "disagreement", "regress", "stall" or None. Risk counts only once the watch has seen a safe scene, so a
        branch handed back at risk is not taken over again at once."""
        self.progress.append(progress)
        regressed = False
        if self.cfg.regress:
            if closeness is None:
                raise ValueError("FailureDetector.update: regress is on, so closeness is needed")
            self.best_closeness = max(self.best_closeness, closeness)
            regressed = closeness < self.best_closeness - self.cfg.regress
        entered_risk = self.cfg.risk and at_risk and self.safe_seen
        self.safe_seen |= not at_risk
        if len(self.progress) <= self.cfg.warmup:
            return None
        if entered_risk:
            return "risk"
        gap = self.weights * (np.asarray(policy_action) - np.asarray(operator_action))
        far = np.linalg.norm(gap) > self.cfg.disagree
        self.disagreeing = self.disagreeing + 1 if far else 0
        if self.disagreeing >= self.cfg.patience:
            return "disagreement"
        if regressed:
            return "regress"
        n = self.cfg.stall_steps
        if len(self.progress) > n and max(self.progress[-n:]) < self.progress[-n - 1] + self.cfg.stall_gain:
            return "stall"
        return None


class ScriptedOperator:
    def __init__(self, task_name: str, config: OperatorConfig | None = None, seed: int = 0):
        self.task_name = task_name
        self.task = task_class(task_name)
        self.cfg = (config or OperatorConfig()).for_task(self.task.spec_)
        self.seed = seed
        self.stats = OperatorStats()
        self.events: list[dict] = []  # where and why it took over

    @property
    def budget_left(self) -> int:
        return self.cfg.budget - self.stats.operator_steps

    def run(self, session: Session) -> OperatorStats:
        """Drive a freshly started session through the protocol (the budget is shared across runs)."""
        if session.phase == Phase.PAUSED:
            session.resume()
        self._drive(session, corrections=0, correct=True)
        return self.stats

    def _drive(self, session: Session, corrections: int, correct: bool) -> None:
        """Let the policy act until its branch ends; correct on failure when allowed."""
        watcher = make_expert(self.task_name, skill=1.0, seed=self.seed)
        detector = FailureDetector(self.cfg)
        while session.phase == Phase.AUTONOMOUS:
            before = session.node
            node = session.step()
            if not correct or corrections >= self.cfg.max_corrections or self.budget_left < self.cfg.horizon:
                continue
            scene = self.task.scene_of(node.obs)
            reason = detector.update(node.action, watcher.act(before.obs), node.progress,
                                     at_risk=bool(self.cfg.risk) and self.task.at_risk(scene),
                                     closeness=float(self.task.closeness(scene)) if self.cfg.regress else None)
            if reason and session.phase == Phase.AUTONOMOUS:
                self._correct(session, node.id, reason, corrections)
                return

    def _correct(self, session: Session, failure_node: int, reason: str, corrections: int) -> None:
        if self.budget_left < self.cfg.horizon:
            return
        start = session.tree.ancestor(failure_node, self.cfg.rollback)
        self.stats.failure_states += 1
        self.events.append({"node": failure_node, "rolled_back_to": start.id, "depth": start.depth, "reason": reason})
        log.debug("failure (%s) at node %d; branching from node %d", reason, failure_node, start.id)
        for k in range(self.cfg.branches):
            if self.budget_left < self.cfg.horizon:
                break
            session.roll_back(start.id)
            branch = session.branch()
            session.take_over()
            skill = 1.0 if k == 0 else self.cfg.branch_skill
            expert = make_expert(self.task_name, skill=skill, seed=self.seed * 7919 + failure_node * 31 + k)
            for _ in range(self.cfg.horizon):
                session.act(expert.act(session.node.obs))
                self.stats.operator_steps += 1
                if session.phase != Phase.CORRECTING:
                    break
            if session.phase == Phase.CORRECTING:
                session.hand_back()
            self.stats.branches += 1
            # the first continuation is the main line and may be corrected again; the others just run out
            self._drive(session, corrections + 1, correct=(k == 0))
            if session.tree.branches[branch.id].outcome == "success" or any(
                session.tree.branches[b].outcome == "success" for b in _descendant_branches(session, branch.id)
            ):
                self.stats.branch_successes += 1


def _descendant_branches(session: Session, branch_id: int) -> list[int]:
    """Branches started from nodes of ``branch_id`` (nested corrections on the main line)."""
    nodes = {n.id for n in session.tree.nodes.values() if n.branch_id == branch_id}
    return [b.id for b in session.tree.branches.values() if b.root_node in nodes and b.id != branch_id]
