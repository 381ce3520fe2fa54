"""The session log's records: how nodes, branches and the cursor are written, and how they are checked on reading.

Every record is a JSON object with a ``kind``: ``header`` (first line: task, config, world-model checkpoint,
the caller's meta), ``node`` (one rollout-tree node, with its cached values), ``branch`` (a branch as it is
after a change: created, marked, ended) or ``cursor`` (a roll-back or branch moved it). Tensors are stored as
raw bytes in hex with dtype and shape, so a resumed node continues bit for bit.

:class:`LogRecords` replays the records in order and checks each one (keys, types, hex, shapes, ids that
refer to earlier records); anything wrong is a :class:`RecordError` naming the file and line. A branch's
leaf is rebuilt from the node records, which are the truth for it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from hiwm.errors import HiwmError
from hiwm.session.tree import OUTCOMES, SOURCES, Branch, Node

KINDS = ("header", "node", "branch", "cursor")
NUMERIC_KINDS = "biuf"  # bool, int, unsigned, float: what world-model and policy states hold


class RecordError(HiwmError):
    """A session-log record that is malformed (the reader adds the file and line)."""


# ------------------------------------------------------------------ values ----
def encode_value(value) -> dict:
    """A frozen dataclass of tensors / numbers -> JSON-safe dict (exact)."""
    out = {}
    for f in dataclasses.fields(value):
        v = getattr(value, f.name)
        if isinstance(v, torch.Tensor):
            a = v.detach().cpu().numpy()
            out[f.name] = {"dtype": str(a.dtype), "shape": list(a.shape), "hex": a.tobytes().hex()}
        else:
            out[f.name] = v
    return out


def decode_tensor(v: dict, name: str) -> torch.Tensor:
    """{"dtype", "shape", "hex"} -> tensor; RecordError when any part is malformed or they disagree."""
    if set(v) != {"dtype", "shape", "hex"}:
        raise RecordError(f"{name}: a tensor needs exactly dtype, shape and hex, got {sorted(v)}")
    try:
        dtype = np.dtype(v["dtype"])
    except TypeError:
        raise RecordError(f"{name}: unknown dtype {str(v['dtype'])[:40]!r}") from None
    if dtype.kind not in NUMERIC_KINDS:
        raise RecordError(f"{name}: dtype {dtype} is not numeric")
    shape = v["shape"]
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise RecordError(f"{name}: shape must be a list of sizes, got {str(shape)[:60]}")
    text = v["hex"]
    want = 2 * dtype.itemsize * math.prod(shape)
    if not isinstance(text, str) or len(text) != want:
        got = len(text) if isinstance(text, str) else type(text).__name__
        raise RecordError(f"{name}: hex of {got} characters does not match shape {shape} of {dtype} ({want})")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise RecordError(f"{name}: hex holds a non-hex character") from None
    return torch.from_numpy(np.frombuffer(raw, dtype=dtype).reshape(shape).copy())


def decode_value(cls, data: dict, device: str | torch.device = "cpu"):
    """Inverse of ``encode_value``; a field the record lacks (written before the field existed) keeps its default."""
    if not isinstance(data, dict):
        raise RecordError(f"{cls.__name__} must be an object, got {type(data).__name__}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise RecordError(f"{cls.__name__} lacks {f.name!r}")
        v = data[f.name]
        kwargs[f.name] = decode_tensor(v, f"{cls.__name__}.{f.name}").to(device) if isinstance(v, dict) else v
    return cls(**kwargs)


def check_like(value, template, what: str) -> None:
    """``value`` (decoded) has the template's kinds: tensors of the same dtype and rank, batch 1, the same sizes
    past axis 1 (axis 1 is a history that grows); numbers where the template has numbers."""
    for f in dataclasses.fields(template):
        v, t = getattr(value, f.name), getattr(template, f.name)
        name = f"{what}.{f.name}"
        if isinstance(t, torch.Tensor):
            if not isinstance(v, torch.Tensor):
                raise RecordError(f"{name} must be a tensor, got {type(v).__name__}")
            if v.dtype != t.dtype or v.ndim != t.ndim or v.shape[:1] != (1,) or v.shape[2:] != t.shape[2:]:
                raise RecordError(f"{name} has {v.dtype} {tuple(v.shape)}, expected {t.dtype} like {tuple(t.shape)}")
        elif t is None:
            if v is not None and not (isinstance(v, torch.Tensor) and v.shape[:1] == (1,)):
                raise RecordError(f"{name} must be empty or a batch-1 tensor")
        elif isinstance(t, bool) != isinstance(v, bool) or not isinstance(v, type(t)):
            raise RecordError(f"{name} must be {type(t).__name__}, got {type(v).__name__}")


# ----------------------------------------------------------------- records ----
def _arr(v) -> list | None:
    return None if v is None else np.asarray(v, dtype=np.float64).tolist()


def header_record(meta: dict) -> dict:
    return {"kind": "header", **meta}


def node_record(n: Node) -> dict:
    return {
        "kind": "node", "id": n.id, "parent_id": n.parent_id, "depth": n.depth, "branch_id": n.branch_id,
        "obs": {k: _arr(v) for k, v in n.obs.items()}, "wm_state": encode_value(n.wm_state),
        "policy_state": encode_value(n.policy_state), "action": _arr(n.action), "source": n.source,
        "intervention": n.intervention, "progress": n.progress, "uncertainty": n.uncertainty, "success": n.success,
    }


def branch_record(b: Branch) -> dict:
    return {"kind": "branch", **dataclasses.asdict(b)}


def cursor_record(node_id: int, branch_id: int) -> dict:
    return {"kind": "cursor", "node": node_id, "branch": branch_id}


# ----------------------------------------------------------------- checks ----
NODE_KEYS = {"id", "parent_id", "depth", "branch_id", "obs", "wm_state", "policy_state", "action", "source",
             "intervention", "progress", "uncertainty", "success"}
BRANCH_KEYS = {f.name for f in dataclasses.fields(Branch)}
REQUIRED = {"node": NODE_KEYS, "branch": {"id", "root_node", "leaf"}, "cursor": {"node", "branch"}}


def _int(r: dict, key: str) -> int:
    v = r[key]
    if not isinstance(v, int) or isinstance(v, bool):
        raise RecordError(f"{key} must be an integer, got {str(v)[:40]}")
    return v


def _bool(r: dict, key: str) -> bool:
    if not isinstance(r[key], bool):
        raise RecordError(f"{key} must be true or false, got {str(r[key])[:40]}")
    return r[key]


def _number(r: dict, key: str) -> float:
    v = r[key]
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise RecordError(f"{key} must be a number, got {str(v)[:40]}")
    return float(v)


def _vector(v, name: str) -> np.ndarray:
    """A flat JSON list of numbers -> (D,) float64."""
    if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise RecordError(f"{name} must be a list of numbers")
    return np.asarray(v, dtype=np.float64)


class LogRecords:
    """The records of one log, checked and replayed in order: header, nodes, branches (leaves from the nodes),
    cursor. ``records`` holds (line number, record) pairs; ``where`` names the file in errors."""

    def __init__(self, records: list[tuple[int, dict]], where: str):
        self.where = where
        if not records or records[0][1].get("kind") != "header":
            raise RecordError(f"{where}: not a session log (no header)")
        self.header = records[0][1]
        if not isinstance(self.header.get("config"), dict):
            raise RecordError(f"{where}: line {records[0][0]}: the header has no config")
        self._nodes: list[tuple[int, dict]] = []
        self._depth: list[int] = []
        self.branches: dict[int, Branch] = {}
        self.cursor: tuple[int, int] | None = None
        for line, r in records[1:]:
            try:
                self._add(line, r)
            except RecordError as e:
                raise RecordError(f"{where}: line {line}: {e}") from None
        last: dict[int, int] = {}
        for line, r in self._nodes:
            if r["branch_id"] not in self.branches:
                raise RecordError(f"{where}: line {line}: node {r['id']} is on branch {r['branch_id']}, which no record creates")
            last[r["branch_id"]] = r["id"]
        for bid, leaf in last.items():  # a node record is the truth for its branch's leaf
            self.branches[bid].leaf = leaf

    def _add(self, line: int, r: dict) -> None:
        kind = r.get("kind")
        if kind not in KINDS or kind == "header":
            raise RecordError(f"unknown record kind {str(kind)[:40]!r}" if kind != "header" else "a second header")
        missing = REQUIRED[kind] - set(r)
        if missing:
            raise RecordError(f"the {kind} record lacks {', '.join(sorted(missing))}")
        if kind == "node":
            self._add_node(line, r)
        elif kind == "branch":
            self._add_branch(r)
        else:
            node, branch = _int(r, "node"), _int(r, "branch")
            if not 0 <= node < len(self._depth) or branch not in self.branches:
                raise RecordError(f"the cursor names node {node} / branch {branch}, which no earlier record holds")
            self.cursor = (node, branch)

    def _add_node(self, line: int, r: dict) -> None:
        nid, parent, depth, bid = (_int(r, k) for k in ("id", "parent_id", "depth", "branch_id"))
        if nid != len(self._depth):
            raise RecordError(f"node {nid} is out of order (expected {len(self._depth)})")
        if (nid == 0) != (parent == -1) or not -1 <= parent < nid:
            raise RecordError(f"node {nid} has parent {parent}, which no earlier record holds")
        if depth != (0 if parent < 0 else self._depth[parent] + 1):
            raise RecordError(f"node {nid} has depth {depth}, not its parent's + 1")
        if r["source"] not in SOURCES:
            raise RecordError(f"source must be one of {SOURCES}, got {str(r['source'])[:40]!r}")
        _bool(r, "intervention"), _bool(r, "success"), _number(r, "progress"), _number(r, "uncertainty")
        if not isinstance(r["obs"], dict) or not r["obs"]:
            raise RecordError("obs must be an object of observation vectors")
        root = self._nodes[0][1] if self._nodes else r
        if set(r["obs"]) != set(root["obs"]):
            raise RecordError(f"obs has keys {sorted(r['obs'])}, the root's are {sorted(root['obs'])}")
        for k, v in r["obs"].items():
            if len(_vector(v, f"obs[{k!r}]")) != len(root["obs"][k]):
                raise RecordError(f"obs[{k!r}] has {len(v)} values, the root's has {len(root['obs'][k])}")
        if (r["action"] is None) != (nid == 0):
            raise RecordError("only the root has no action")
        if r["action"] is not None:
            _vector(r["action"], "action")
        for key in ("wm_state", "policy_state"):
            if not isinstance(r[key], dict):
                raise RecordError(f"{key} must be an object, got {type(r[key]).__name__}")
        self._nodes.append((line, r))
        self._depth.append(depth)
        self.cursor = (nid, bid)  # a step moves the cursor onto its node

    def _add_branch(self, r: dict) -> None:
        extra = set(r) - BRANCH_KEYS - {"kind"}
        if extra:
            raise RecordError(f"the branch record has unknown keys {', '.join(sorted(extra))}")
        bid, root, leaf = _int(r, "id"), _int(r, "root_node"), _int(r, "leaf")
        if not 0 <= bid <= len(self.branches):
            raise RecordError(f"branch {bid} is out of order (expected at most {len(self.branches)})")
        if not (0 <= root < len(self._depth) and 0 <= leaf < len(self._depth)):
            raise RecordError(f"branch {bid} names node {root} / {leaf}, which no earlier record holds")
        b = Branch(bid, root, leaf, outcome=r.get("outcome", "unjudged"), keep=r.get("keep"), info=r.get("info", {}))
        if b.outcome not in OUTCOMES or b.keep not in (None, True, False) or not isinstance(b.info, dict):
            raise RecordError(f"branch {bid}: outcome must be one of {OUTCOMES}, keep true / false / null, info an object")
        self.branches[bid] = b

    def nodes(self, world_model, policy) -> list[Node]:
        """The node records decoded into nodes (values checked against the policy's and world model's kinds)."""
        wm_cls = type(world_model).state_class  # the state is the model kind's own value
        p_template = policy.initial_state(1)
        state_cls = type(p_template)
        action_dim = world_model.task.spec_.action_dim
        out: list[Node] = []
        for line, r in self._nodes:
            try:
                obs = {k: np.asarray(v, dtype=np.float64) for k, v in r["obs"].items()}
                wm_state = decode_value(wm_cls, r["wm_state"])
                if not out:  # the world model's own initial state for the root's observation
                    wm_template = world_model.initial_state({k: v[None] for k, v in obs.items()})
                check_like(wm_state, wm_template, "wm_state")
                policy_state = decode_value(state_cls, r["policy_state"])
                check_like(policy_state, p_template, "policy_state")
                action = None if r["action"] is None else np.asarray(r["action"], dtype=np.float64)
                if action is not None and action.shape != (action_dim,):
                    raise RecordError(f"action has {len(action)} values, the task's actions have {action_dim}")
            except RecordError as e:
                raise RecordError(f"{self.where}: line {line}: {e}") from None
            out.append(Node(
                id=r["id"], parent_id=r["parent_id"], depth=r["depth"], branch_id=r["branch_id"], obs=obs,
                wm_state=wm_state, policy_state=policy_state, action=action, source=r["source"],
                intervention=r["intervention"], progress=float(r["progress"]), uncertainty=float(r["uncertainty"]),
                success=r["success"],
            ))
        return out
