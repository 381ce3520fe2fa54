"""The Hi-WM session engine: a policy acting inside a world model, driven by events.

A person (the studio) and the scripted operator drive it the same way: they send events. The engine
asks the state machine whether an event is allowed, then does the work on the rollout tree:

    s = Session.start(policy, wm, obs0, config)      # obs0: one observation dict
    s.resume(); s.step() ...                         # the policy acts
    s.take_over(); s.act(a) ...; s.hand_back()       # corrective steps, flagged intervention=True
    s.roll_back(node_id); s.branch()                 # pick a cached node, continue from it
    s.mark(branch_id, keep=True)                     # outcomes are judged automatically at the end

Every change to the tree, a branch or the cursor is written to the session log (when one is given) and
made durable first, and applied only then: a killed process resumes into the same tree with
``Session.resume_from``, and a change whose record could not be written (a full disk) changes nothing.

Nodes hold the world model's low-dimensional prediction; a policy that takes ``observation.image`` gets
the frame rendered from the predicted scene (``policy_observation``), what a camera would show there.
The world model's state is an opaque value of its kind (``WorldModelState``): the engine only keeps it in
nodes and steps from it. A start observation's camera frame goes to ``initial_state``; nodes never hold frames.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hiwm.errors import HiwmError
from hiwm.session.machine import Event, Phase, StateMachine
from hiwm.session.records import branch_record, cursor_record, header_record, node_record
from hiwm.session.store import SessionLog
from hiwm.session.tree import OUTCOMES, Branch, Node, RolloutTree
from hiwm.tasks.base import IMAGE_KEY, check_action

log = logging.getLogger(__name__)


def policy_observation(policy, task, obs: dict, world_model=None, wm_state=None) -> dict[str, torch.Tensor]:
    """One node's observation (key -> (D,)) -> the policy's inputs as a batch of one (key -> (1, ...)).

    When the policy takes images and the observation has none (a world-model prediction), the frame is the
    one the world model predicts for ``wm_state`` (a kind that models pixels), else drawn from the observation's
    scene (what a camera would show there).
    """
    if IMAGE_KEY in policy.config.input_features and IMAGE_KEY not in obs:
        frame = world_model.frame(wm_state) if world_model is not None else None
        frame = task.render_scene(task.scene_of(obs), task.spec_.image_size) if frame is None else frame[0]
        obs = {**obs, IMAGE_KEY: frame}
    return {k: v[None] for k, v in policy.input_tensors(obs).items()}


@dataclass
class SessionConfig:
    max_steps: int = 300  # the task's episode limit, counted from the root
    seed: int = 0  # policy sampling: step from node n uses seed * 1_000_003 + n
    end_on_success: bool = True  # end a branch when the judge sees terminal success

    @classmethod
    def from_dict(cls, d: dict) -> "SessionConfig":
        """A config read back from a log: unknown keys or wrong types are a one-line HiwmError."""
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise HiwmError(f"unknown session config keys {unknown}")
        for k, v in d.items():
            ok = isinstance(v, bool) if k == "end_on_success" else isinstance(v, int) and not isinstance(v, bool)
            if not ok or (k == "max_steps" and v < 1):
                raise HiwmError(f"session config {k} = {str(v)[:40]} is not valid")
        return cls(**d)


class Session:
    def __init__(self, policy, world_model, config: SessionConfig, log: SessionLog | None = None,
                 meta: dict | None = None):
        self.policy, self.wm, self.config = policy, world_model, config
        self.task = world_model.task
        self.tree = RolloutTree()
        self.machine = StateMachine(Phase.PAUSED)
        self.cursor = 0
        self.branch_id = 0
        self.operator_steps = 0
        self.log = log
        self.meta = dict(meta or {})  # the log's header: task, config, wm_checkpoint and the caller's meta
        path = self.meta.get("policy")  # the checkpoint the studio loaded, when the caller said
        self.policy_name = (policy.config.type or type(policy).__name__) + (f" ({path})" if path else "")

    # ---------------------------------------------------------------- setup ----
    @classmethod
    def start(cls, policy, world_model, obs: dict, config: SessionConfig | None = None,
              log_path: str | Path | None = None, meta: dict | None = None) -> "Session":
        config = config or SessionConfig()
        header = {"task": world_model.task.spec_.name, "config": dataclasses.asdict(config), "wm_checkpoint": world_model.checkpoint_id(),
                  **(meta or {})}
        s = cls(policy, world_model, config, meta=header)
        # Nodes keep low-dimensional observations only; images are rendered when a policy asks for them.
        frame = obs.get(IMAGE_KEY)
        obs = {k: np.asarray(v, dtype=np.float64) for k, v in obs.items() if k != IMAGE_KEY}
        wm_obs = {k: v[None] for k, v in obs.items()}
        if frame is not None:  # a kind that models pixels starts from the camera frame itself
            wm_obs[IMAGE_KEY] = np.asarray(frame)[None]
        wm_state = world_model.initial_state(wm_obs)
        scene = s.task.scene_of(obs)
        root = s.tree.add_root(obs, wm_state, policy.initial_state(1), progress=s.task.progress(scene))
        if log_path is not None:  # the file appears with its header, root and first branch, or not at all
            s.log = SessionLog.create(log_path, [header_record(header), node_record(root),
                                                 branch_record(s.tree.branches[0])])
        return s

    @classmethod
    def resume_from(cls, log_path: str | Path, policy, world_model) -> "Session":
        """Rebuild a session (tree, branches, cursor, phase) from its log after a crash.

        The log is locked for as long as the session holds it (a second opener gets a one-line HiwmError);
        a torn last record is cut off; every branch's leaf comes from its newest node record.
        """
        log = SessionLog.open(log_path)
        try:
            records = log.records()
            header = records.header
            if header.get("wm_checkpoint") != world_model.checkpoint_id():
                raise HiwmError(f"{log_path}: session was imagined with world model {header.get('wm_checkpoint')}, "
                                f"not {world_model.checkpoint_id()}")
            try:
                config = SessionConfig.from_dict(header["config"])
            except HiwmError as e:
                raise HiwmError(f"{log_path}: line 1: {e}") from None
            s = cls(policy, world_model, config, meta=header)
            s.tree.branches = records.branches
            for node in records.nodes(world_model, policy):
                s.tree.add(node)  # a node record is the truth for its branch's leaf
            s.cursor, s.branch_id = records.cursor if records.cursor else (0, 0)
        except BaseException:
            log.close()
            raise
        s.machine.phase = Phase.PAUSED  # a resumed session waits for its operator
        s.operator_steps = sum(1 for n in s.tree.nodes.values() if n.intervention)
        s.log = log
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
        """The policy takes one step from the cursor (a non-finite action: HiwmError, nothing changes)."""
        self.machine.next_phase(Event.STEP)
        node = self.node
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + len(self.tree))
        obs = policy_observation(self.policy, self.task, node.obs, self.wm, node.wm_state)
        action, pstate = self.policy.act(node.policy_state, obs, generator=gen)
        action = action[0].detach().cpu().numpy().astype(np.float64)
        if not np.all(np.isfinite(action)):  # clipping would hide NaN weights as a policy stuck at a box corner
            raise HiwmError(f"policy {self.policy_name} gave a non-finite action {action.tolist()} at node {node.id}: "
                            f"nothing was stepped")
        spec = self.task.spec_
        # a real controller saturates; the model never sees targets outside the action box
        action = np.clip(action, spec.action_low, spec.action_high)
        return self._advance(action, pstate, source="policy", event=Event.STEP)

    def act(self, action) -> Node:
        """One corrective step by the operator (NaN / wrong shape: HiwmError; out of range: clipped)."""
        self.machine.next_phase(Event.ACT)
        action = check_action(action, self.task.spec_)
        if action.ndim != 1:
            raise HiwmError(f"act takes one action of shape ({self.task.spec_.action_dim},), got {action.shape}")
        node = self.node
        obs = policy_observation(self.policy, self.task, node.obs, self.wm, node.wm_state)
        pstate = self.policy.observe(node.policy_state, obs)  # history stays current; queued actions drop
        child = self._advance(action, pstate, source="operator", event=Event.ACT)
        self.operator_steps += 1
        return child

    def roll_back(self, node_id: int) -> Node:
        node = self.tree.get(node_id)  # unknown ids fail before anything changes
        self.machine.next_phase(Event.ROLL_BACK)
        self._commit([cursor_record(node.id, node.branch_id)])
        self._fire(Event.ROLL_BACK)
        self.cursor = node.id
        self.branch_id = node.branch_id
        return node

    def branch(self) -> Branch:
        """Start a new branch at the cursor; the next step extends it."""
        self.machine.next_phase(Event.BRANCH)
        b = self.tree.make_branch(self.cursor)
        self._commit([branch_record(b), cursor_record(self.cursor, b.id)])
        self._fire(Event.BRANCH)
        self.tree.add_branch(b)
        self.branch_id = b.id
        return b

    def mark(self, branch_id: int, outcome: str | None = None, keep: bool | None = None) -> Branch:
        b = self.tree.branch(branch_id)
        if outcome is not None and outcome not in OUTCOMES:
            raise HiwmError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        self.machine.next_phase(Event.MARK)
        after = dataclasses.replace(b, outcome=b.outcome if outcome is None else outcome,
                                    keep=b.keep if keep is None else bool(keep))
        self._commit([branch_record(after)])
        self._fire(Event.MARK)
        b.outcome, b.keep = after.outcome, after.keep  # in place: callers may hold the branch
        return b

    def end(self, outcome: str | None = None) -> None:
        if outcome is not None and outcome not in OUTCOMES:
            raise HiwmError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        self.machine.next_phase(Event.END)
        b = self.tree.branches[self.branch_id]
        after = dataclasses.replace(b, outcome=outcome or ("success" if self.node.success else "failure"))
        self._commit([branch_record(after)])
        self._fire(Event.END)
        b.outcome = after.outcome

    # ------------------------------------------------------------ internals ----
    def _judge(self, succeeded: bool) -> str:
        """The outcome of a branch that ends by itself (the step limit, or terminal success)."""
        return "success" if succeeded else "failure"

    def _commit(self, records: list[dict]) -> None:
        """Make a change's records durable before the change is applied (HiwmError: nothing was written)."""
        if self.log is not None:
            self.log.append(records)

    def _advance(self, action: np.ndarray, policy_state, source: str, event: Event) -> Node:
        """Build the step's node (and a new branch, and the branch's end), write them, then apply them."""
        parent = self.node
        branch = self.tree.branches[self.branch_id]
        records = []
        new_branch = None
        if branch.leaf != parent.id:  # stepping from inside the tree starts a new branch
            new_branch = branch = self.tree.make_branch(parent.id)
            records.append(branch_record(new_branch))
        wm_state, pred, info = self.wm.step(parent.wm_state, action[None])
        # the node (and the log) keeps the low-dimensional prediction; a predicted frame lives in the wm state
        obs = {k: np.asarray(v[0], dtype=np.float64) for k, v in pred.items() if k != IMAGE_KEY}
        node = Node(len(self.tree), parent.id, parent.depth + 1, branch.id, obs=obs, wm_state=wm_state,
                    policy_state=policy_state, action=action, source=source, intervention=source == "operator",
                    progress=float(info["progress"][0]), uncertainty=float(info["uncertainty"][0]),
                    success=bool(info["is_success"][0]))
        records.append(node_record(node))
        done = node.depth >= self.config.max_steps or (
            self.config.end_on_success and self.task.is_terminal_success(info["scene"][0]))
        outcome = None
        if done:  # the branch's end goes into the same write as the step that ended it
            outcome = self._judge(node.success or any(n.success for n in self.tree.path(parent.id)))
            records.append(branch_record(dataclasses.replace(branch, leaf=node.id, outcome=outcome)))
        self._commit(records)
        self._fire(event)
        if new_branch is not None:
            self.tree.add_branch(new_branch)
        self.tree.add(node)
        self.cursor, self.branch_id = node.id, branch.id
        if outcome is not None:
            self._fire(Event.END)
            branch.outcome = outcome
        return node
