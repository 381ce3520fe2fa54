"""The Hi-WM session engine: a policy acting inside a world model, driven by events.

A person (the studio) and the scripted operator drive it the same way: they send events. The engine
asks the state machine whether an event is allowed, then does the work on the rollout tree:

    s = Session.start(policy, wm, obs0, config)      # obs0: one observation dict
    s.resume(); s.step() ...                         # the policy acts
    s.take_over(); s.act(a) ...; s.hand_back()       # corrective steps, flagged intervention=True
    s.roll_back(node_id); s.branch()                 # pick a cached node, continue from it
    s.mark(branch_id, keep=True)                     # outcomes are judged automatically at the end

Every node and branch change is appended to the session log (when one is given) before the call
returns, so a killed process resumes into the same tree with ``Session.resume_from``.

Nodes hold the world model's low-dimensional prediction; a policy that takes ``observation.image`` gets
the frame rendered from the predicted scene (``policy_observation``), what a camera would show there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hiwm.errors import HiwmError
from hiwm.session.machine import Event, Phase, StateMachine
from hiwm.session.store import SessionLog
from hiwm.session.tree import OUTCOMES, Branch, Node, RolloutTree
from hiwm.tasks.base import IMAGE_KEY, check_action

log = logging.getLogger(__name__)


def policy_observation(policy, task, obs: dict) -> dict[str, torch.Tensor]:
    """One node's observation (key -> (D,)) -> the policy's inputs as a batch of one (key -> (1, ...)).

    When the policy takes images and the observation has none (a world-model prediction), the frame is
    rendered from the observation's scene.
    """
    if IMAGE_KEY in policy.config.input_features and IMAGE_KEY not in obs:
        obs = {**obs, IMAGE_KEY: task.render_scene(task.scene_of(obs), task.spec_.image_size)}
    return {k: v[None] for k, v in policy.input_tensors(obs).items()}


@dataclass
class SessionConfig:
    max_steps: int = 300  # the task's episode limit, counted from the root
    seed: int = 0  # policy sampling: step from node n uses seed * 1_000_003 + n
    end_on_success: bool = True  # end a branch when the judge sees terminal success


class Session:
    def __init__(self, policy, world_model, config: SessionConfig, log_path: str | Path | None = None):
        self.policy, self.wm, self.config = policy, world_model, config
        self.task = world_model.task
        self.tree = RolloutTree()
        self.machine = StateMachine(Phase.PAUSED)
        self.cursor = 0
        self.branch_id = 0
        self.operator_steps = 0
        self.log = SessionLog(log_path) if log_path is not None else None

    # ---------------------------------------------------------------- setup ----
    @classmethod
    def start(cls, policy, world_model, obs: dict, config: SessionConfig | None = None,
              log_path: str | Path | None = None, meta: dict | None = None) -> "Session":
        s = cls(policy, world_model, config or SessionConfig(), log_path)
        # Nodes keep low-dimensional observations only; images are rendered when a policy asks for them.
        obs = {k: np.asarray(v, dtype=np.float64) for k, v in obs.items() if k != IMAGE_KEY}
        wm_state = world_model.initial_state({k: v[None] for k, v in obs.items()})
        scene = s.task.scene_of(obs)
        root = s.tree.add_root(obs, wm_state, policy.initial_state(1), progress=s.task.progress(scene))
        if s.log:
            s.log.header({"task": s.task.spec_.name, "config": vars(s.config), "wm_checkpoint": world_model.checkpoint_id(),
                          **(meta or {})})
            s.log.node(root)
            s.log.branch(s.tree.branches[0])
        return s

    @classmethod
    def resume_from(cls, log_path: str | Path, policy, world_model) -> "Session":
        """Rebuild a session (tree, branches, cursor, phase) from its log after a crash."""
        records = SessionLog.read(log_path)
        header = records.header
        if header.get("wm_checkpoint") != world_model.checkpoint_id():
            raise HiwmError(f"{log_path}: session was imagined with world model {header.get('wm_checkpoint')}, "
                            f"not {world_model.checkpoint_id()}")
        s = cls(policy, world_model, SessionConfig(**header["config"]), None)
        for node in records.nodes(world_model, policy):
            s.tree.insert(node)
        s.tree.branches = records.branches
        s.cursor, s.branch_id = records.cursor if records.cursor else (0, 0)
        s.machine.phase = Phase.PAUSED  # a resumed session waits for its operator
        s.operator_steps = sum(1 for n in s.tree.nodes.values() if n.intervention)
        s.log = SessionLog(log_path, append=True)
        return s

    # ------------------------------------------------------------- queries ----
    @property
    def phase(self) -> Phase:
        return self.machine.phase

    @property
    def node(self) -> Node:
        return self.tree.get(self.cursor)

    def _fire(self, event: Event) -> None:
        self.machine.fire(event)

    # -------------------------------------------------------------- events ----
    def pause(self) -> None:
        self._fire(Event.PAUSE)

    def resume(self) -> None:
        self._fire(Event.RESUME)

    def take_over(self) -> None:
        self._fire(Event.TAKE_OVER)

    def hand_back(self) -> None:
        self._fire(Event.HAND_BACK)

    def step(self) -> Node:
        """The policy takes one step from the cursor."""
        self.machine.next_phase(Event.STEP)
        node = self.node
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + len(self.tree))
        obs = policy_observation(self.policy, self.task, node.obs)
        action, pstate = self.policy.act(node.policy_state, obs, generator=gen)
        spec = self.task.spec_
        # a real controller saturates; the model never sees targets outside the action box
        action = np.clip(action[0].detach().cpu().numpy().astype(np.float64), spec.action_low, spec.action_high)
        self._fire(Event.STEP)
        return self._advance(action, pstate, source="policy")

    def act(self, action) -> Node:
        """One corrective step by the operator (NaN / wrong shape: HiwmError; out of range: clipped)."""
        self.machine.next_phase(Event.ACT)
        action = check_action(action, self.task.spec_)
        if action.ndim != 1:
            raise HiwmError(f"act takes one action of shape ({self.task.spec_.action_dim},), got {action.shape}")
        node = self.node
        obs = policy_observation(self.policy, self.task, node.obs)
        pstate = self.policy.observe(node.policy_state, obs)  # history stays current; queued actions drop
        self._fire(Event.ACT)
        self.operator_steps += 1
        return self._advance(action, pstate, source="operator")

    def roll_back(self, node_id: int) -> Node:
        node = self.tree.get(node_id)  # unknown ids fail before anything changes
        self._fire(Event.ROLL_BACK)
        self.cursor = node.id
        self.branch_id = node.branch_id
        self._log_cursor()
        return node

    def branch(self) -> Branch:
        """Start a new branch at the cursor; the next step extends it."""
        self.machine.next_phase(Event.BRANCH)
        b = self.tree.new_branch(self.cursor)
        self._fire(Event.BRANCH)
        self.branch_id = b.id
        if self.log:
            self.log.branch(b)
        self._log_cursor()
        return b

    def mark(self, branch_id: int, outcome: str | None = None, keep: bool | None = None) -> Branch:
        b = self.tree.branch(branch_id)
        if outcome is not None and outcome not in OUTCOMES:
            raise HiwmError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        self._fire(Event.MARK)
        if outcome is not None:
            b.outcome = outcome
        if keep is not None:
            b.keep = bool(keep)
        if self.log:
            self.log.branch(b)
        return b

    def end(self, outcome: str | None = None) -> None:
        self._fire(Event.END)
        b = self.tree.branches[self.branch_id]
        b.outcome = outcome or ("success" if self.node.success else "failure")
        if self.log:
            self.log.branch(b)

    # ------------------------------------------------------------ internals ----
    def _advance(self, action: np.ndarray, policy_state, source: str) -> Node:
        parent = self.node
        branch = self.tree.branches[self.branch_id]
        if branch.leaf != parent.id:  # stepping from inside the tree starts a new branch
            branch = self.tree.new_branch(parent.id)
            self.branch_id = branch.id
            if self.log:
                self.log.branch(branch)
        wm_state, pred, info = self.wm.step(parent.wm_state, action[None])
        obs = {k: np.asarray(v[0], dtype=np.float64) for k, v in pred.items()}
        node = self.tree.add_child(
            parent.id, self.branch_id, obs=obs, wm_state=wm_state, policy_state=policy_state, action=action,
            source=source, intervention=source == "operator", progress=float(info["progress"][0]),
            uncertainty=float(info["uncertainty"][0]), success=bool(info["is_success"][0]),
        )
        self.cursor = node.id
        if self.log:
            self.log.node(node)
        done = node.depth >= self.config.max_steps or (
            self.config.end_on_success and self.task.is_terminal_success(info["scene"][0]))
        if done:
            self.end("success" if any(n.success for n in self.tree.path(node.id)) else "failure")
        return node

    def _log_cursor(self) -> None:
        if self.log:
            self.log.cursor(self.cursor, self.branch_id)
