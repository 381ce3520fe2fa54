"""Session persistence: an append-only JSON-lines log, flushed after every record.

A killed process loses at most the record being written (a torn last line is ignored on reading), so
``Session.resume_from`` rebuilds the same tree, branches and cursor. Tensors inside the cached values
(world-model and policy states) are stored as their raw bytes in hex, so a resumed node continues bit
for bit like the original. fsync after each record: an accepted correction is on disk before the call
returns.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from hiwm.errors import HiwmError
from hiwm.session.tree import Branch, Node

log = logging.getLogger(__name__)


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


def decode_value(cls, data: dict, device: str | torch.device = "cpu"):
    """Inverse of ``encode_value``; a field the record lacks (written before the field existed) keeps its default."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING):
            continue
        v = data[f.name]
        if isinstance(v, dict) and "hex" in v:
            a = np.frombuffer(bytes.fromhex(v["hex"]), dtype=np.dtype(v["dtype"])).reshape(v["shape"]).copy()
            kwargs[f.name] = torch.from_numpy(a).to(device)
        else:
            kwargs[f.name] = v
    return cls(**kwargs)


def _arr(v) -> list | None:
    return None if v is None else np.asarray(v, dtype=np.float64).tolist()


class SessionLog:
    def __init__(self, path: str | Path, append: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not append and self.path.exists():
            raise HiwmError(f"session log exists already (resume it, or choose another path): {self.path}")
        self._f = open(self.path, "a", encoding="utf-8")

    def _write(self, record: dict) -> None:
        self._f.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def header(self, meta: dict) -> None:
        self._write({"kind": "header", **meta})

    def node(self, n: Node) -> None:
        self._write({
            "kind": "node", "id": n.id, "parent_id": n.parent_id, "depth": n.depth, "branch_id": n.branch_id,
            "obs": {k: _arr(v) for k, v in n.obs.items()}, "wm_state": encode_value(n.wm_state),
            "policy_state": encode_value(n.policy_state), "action": _arr(n.action), "source": n.source,
            "intervention": n.intervention, "progress": n.progress, "uncertainty": n.uncertainty,
            "success": n.success,
        })

    def branch(self, b: Branch) -> None:
        self._write({"kind": "branch", **dataclasses.asdict(b)})

    def cursor(self, node_id: int, branch_id: int) -> None:
        self._write({"kind": "cursor", "node": node_id, "branch": branch_id})

    def close(self) -> None:
        self._f.close()

    @staticmethod
    def read(path: str | Path) -> "LogRecords":
        path = Path(path)
        if not path.is_file():
            raise HiwmError(f"no session log at {path}")
        records = []
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
        for i, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if i == len(lines) - 1:  # torn last write of a killed process
                    log.warning("%s: ignoring an incomplete last record", path)
                    continue
                raise HiwmError(f"{path}: line {i + 1} is not valid JSON") from None
        if not records or records[0].get("kind") != "header":
            raise HiwmError(f"{path}: not a session log (no header)")
        return LogRecords(records)


class LogRecords:
    def __init__(self, records: list[dict]):
        self.header = records[0]
        self._nodes = [r for r in records if r["kind"] == "node"]
        self.branches: dict[int, Branch] = {}
        self.cursor: tuple[int, int] | None = None
        for r in records:
            if r["kind"] == "branch":
                fields = {k: v for k, v in r.items() if k != "kind"}
                self.branches[fields["id"]] = Branch(**fields)
            elif r["kind"] == "cursor":
                self.cursor = (r["node"], r["branch"])
            elif r["kind"] == "node":
                self.cursor = (r["id"], r["branch_id"])

    def nodes(self, world_model, policy) -> list[Node]:
        from hiwm.world_models.base import WMState  # the log is read after both are built

        state_cls = type(policy.initial_state(1))
        out = []
        for r in self._nodes:
            out.append(Node(
                id=r["id"], parent_id=r["parent_id"], depth=r["depth"], branch_id=r["branch_id"],
                obs={k: np.asarray(v, dtype=np.float64) for k, v in r["obs"].items()},
                wm_state=decode_value(WMState, r["wm_state"]),
                policy_state=decode_value(state_cls, r["policy_state"]),
                action=None if r["action"] is None else np.asarray(r["action"], dtype=np.float64),
                source=r["source"], intervention=r["intervention"], progress=r["progress"],
                uncertainty=r["uncertainty"], success=r["success"],
            ))
        return out
