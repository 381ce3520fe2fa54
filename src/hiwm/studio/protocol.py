"""The studio's WebSocket protocol: one schema per message type, and the one function that checks them.

Every message from a browser is a JSON object ``{"type": ..., "seq": n, ...fields}`` of at most
:data:`MAX_MESSAGE_BYTES`. :func:`parse_message` turns raw text into a validated :class:`Message` or
raises :class:`ProtocolError` (one line) for malformed JSON, an unknown type, unknown or missing
fields, wrong types, NaN / infinity, out-of-range numbers, or an oversized message. Checking against
the live session (does this node exist?) is the server's job; nothing here touches a session.

Client -> server (``seq`` is optional on all; it is echoed in the ``ack`` / ``error`` reply):

    claim / release                     take or give up control (one tab holds it at a time)
    pause / resume / take_over / hand_back / branch / step / export / scan
    act        action: [float] * A      one corrective step, absolute, in the task's action space (A numbers,
                                        each inside its bounds: check_action against the task's box)
    roll_back  node: int                move the cursor to a cached node
    mark       branch: int, outcome?: "unjudged" | "success" | "failure", keep?: bool | null
    end        outcome?: "success" | "failure"
    rate       hz: float in [1, 30]     autonomous stepping rate

Server -> client: ``hello`` (spec, all nodes), ``update`` (state, new nodes, frame), ``ack``, ``error``,
``exported``, ``queue``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hiwm.errors import HiwmError
from hiwm.session.tree import OUTCOMES

MAX_MESSAGE_BYTES = 4096
MAX_ID = 2**31 - 1
RATE_HZ = (1.0, 30.0)  # autonomous stepping rate: the page's slider, the `rate` message and `hiwm studio --rate`


class ProtocolError(HiwmError):
    """A message that does not fit the protocol; the server replies with this and changes nothing."""


@dataclass(frozen=True)
class Field:
    """One message field: ``kind`` in int / float / bool / str / floats; ``null`` allows None."""

    kind: str
    required: bool = True
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    null: bool = False


@dataclass(frozen=True)
class Message:
    type: str
    seq: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields.get(key)


_NONE: dict[str, Field] = {}
SCHEMAS: dict[str, dict[str, Field]] = {
    "claim": _NONE, "release": _NONE, "pause": _NONE, "resume": _NONE, "take_over": _NONE,
    "hand_back": _NONE, "branch": _NONE, "step": _NONE, "export": _NONE, "scan": _NONE,
    "act": {"action": Field("floats")},  # length and range are checked against the task's action box
    "roll_back": {"node": Field("int", lo=0, hi=MAX_ID)},
    "mark": {"branch": Field("int", lo=0, hi=MAX_ID), "outcome": Field("str", False, choices=OUTCOMES),
             "keep": Field("bool", False, null=True)},
    "end": {"outcome": Field("str", False, choices=("success", "failure"))},
    "rate": {"hz": Field("float", lo=RATE_HZ[0], hi=RATE_HZ[1])},
}
# Messages that change the session (only the tab holding control may send them).
MUTATING = frozenset(SCHEMAS) - {"claim", "release", "scan"}


def _reject_constant(name: str) -> float:
    raise ProtocolError(f"{name} is not a number")


def _check_number(name: str, v: Any, f: Field) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ProtocolError(f"{name} must be a number, got {type(v).__name__}")
    if isinstance(v, float) and not math.isfinite(v):  # ints are finite (and may be too large for a float)
        raise ProtocolError(f"{name} must be finite")
    if (f.lo is not None and v < f.lo) or (f.hi is not None and v > f.hi):
        raise ProtocolError(f"{name}={str(v)[:24]} is outside [{f.lo}, {f.hi}]")
    return v


def _check_field(name: str, v: Any, f: Field) -> Any:
    if v is None and f.null:
        return None
    if f.kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise ProtocolError(f"{name} must be an integer, got {type(v).__name__}")
        return int(_check_number(name, v, f))
    if f.kind == "float":
        return float(_check_number(name, v, f))
    if f.kind == "bool":
        if not isinstance(v, bool):
            raise ProtocolError(f"{name} must be true or false, got {type(v).__name__}")
        return v
    if f.kind == "str":
        if not isinstance(v, str) or (f.choices and v not in f.choices):
            raise ProtocolError(f"{name} must be one of {list(f.choices)}")
        return v
    if f.kind == "floats":
        if not isinstance(v, list) or not 1 <= len(v) <= 64:
            raise ProtocolError(f"{name} must be a list of 1-64 numbers")
        return [float(_check_number(f"{name}[{i}]", x, f)) for i, x in enumerate(v)]
    raise ProtocolError(f"{name}: unsupported field kind {f.kind}")  # a schema bug, never user input


def parse_message(raw: str | bytes) -> Message:
    """Raw WebSocket text -> a validated Message; anything else raises a one-line ProtocolError."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("message is not UTF-8 text") from None
    if len(raw.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; so are huge ints
        raise ProtocolError("message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise ProtocolError(f"unknown message type {str(kind)[:40]!r}")
    seq = data.get("seq")
    if seq is not None:
        seq = _check_field("seq", seq, Field("int", lo=0, hi=2**53))
    schema = SCHEMAS[kind]
    unknown = sorted(set(data) - set(schema) - {"type", "seq"})
    if unknown:
        raise ProtocolError(f"{kind}: unknown fields {[u[:40] for u in unknown[:5]]}")
    fields = {}
    for name, f in schema.items():
        if name not in data:
            if f.required:
                raise ProtocolError(f"{kind}: missing field {name!r}")
            continue
        fields[name] = _check_field(name, data[name], f)
    return Message(kind, seq, fields)


def check_action(action: list[float], low: tuple[float, ...], high: tuple[float, ...]) -> list[float]:
    """An ``act`` message's action against the task's action box: wrong length or out of range raises."""
    if len(action) != len(low):
        raise ProtocolError(f"action must have {len(low)} numbers, got {len(action)}")
    for i, (v, lo, hi) in enumerate(zip(action, low, high)):
        if not lo <= v <= hi:
            raise ProtocolError(f"action[{i}]={v} is outside [{lo}, {hi}]")
    return action


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def encode(message: dict) -> str:
    """Server -> client: compact JSON; a non-finite number (a diverged world model) is sent as null."""
    try:
        return json.dumps(message, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(message), separators=(",", ":"), allow_nan=False)
