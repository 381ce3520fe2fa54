"""Property-based fuzzing of the studio's WebSocket protocol (bounded and derandomized, so CI is repeatable).

Two tabs send a random mix of well-formed messages (with in- and out-of-range values) and junk (random JSON,
text and bytes) to one studio. For every message: nothing escapes ``Studio.handle``, the sender gets exactly
one reply that is an ``ack`` or a one-line ``error``, and an error changes nothing (tree, cursor, phase,
branches, control, the bytes of the session log). At the end the log reopens to the same tree.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from studio_helpers import FakeTab, make_studio

from hiwm.session.engine import Session

SETTINGS = settings(max_examples=200, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_ids = st.integers(-3, 40) | st.sampled_from([2**31, 2**63, 10**400 // 10**390])
_numbers = (st.floats(-600, 600) | st.integers(-10, 520) | st.sampled_from([1e308, -0.0])
            | st.booleans() | st.text(max_size=3) | st.none())
_outcomes = st.sampled_from(["unjudged", "success", "failure", "great", "", None])
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                     max_leaves=12)


def _typed(kind: str, fields: dict) -> dict:
    return {"type": kind, **fields}


# One message of each type with fields near and across their limits, mostly well-formed so the session moves.
_moves = st.sampled_from(["take_over", "step", "step", "branch", "hand_back"]).map(lambda k: {"type": k})
_acts = st.builds(lambda a: _typed("act", {"action": a}), st.lists(st.floats(0, 512), min_size=2, max_size=2))
_shaped = st.one_of(
    _moves, _moves, _acts, _acts, _acts, _acts,  # the moves that grow the tree come up most, so errors are met in deep sessions too
    st.sampled_from(["claim", "release", "pause", "resume", "take_over", "hand_back", "branch", "step", "export",
                     "scan"]).map(lambda k: {"type": k}),
    st.builds(lambda a: _typed("act", {"action": a}),
              st.lists(st.floats(-50, 560), min_size=2, max_size=2) | st.lists(_numbers, max_size=4)),
    st.builds(lambda n: _typed("roll_back", {"node": n}), _ids),
    st.builds(lambda b, o, k: _typed("mark", {"branch": b, **({} if o is None else {"outcome": o}),
                                             **({} if k == "absent" else {"keep": k})}),
              _ids, _outcomes, st.sampled_from([True, False, None, "absent", "yes"])),
    st.builds(lambda o: _typed("end", {} if o is None else {"outcome": o}), _outcomes),
    st.builds(lambda hz: _typed("rate", {"hz": hz}), _numbers),
    st.builds(lambda k, extra: {"type": k, **extra}, st.sampled_from(["pause", "act", "explode", 5, None]),
              st.dictionaries(st.text(max_size=6), _json, max_size=3)),
)


@st.composite
def _message(draw) -> tuple[int, str | bytes]:
    """(which tab, raw message): shaped messages with a seq as JSON text, or junk text / JSON / bytes."""
    tab = draw(st.sampled_from([0] * 5 + [1]))
    how = draw(st.sampled_from(["shaped"] * 9 + ["json", "text", "bytes"]))
    if how == "shaped":
        msg = draw(_shaped)
        if draw(st.booleans()):
            msg["seq"] = draw(st.integers(0, 2**53) | st.sampled_from([-1, "7", 1.5]))
        return tab, json.dumps(msg)
    if how == "json":
        return tab, json.dumps(draw(_json))
    if how == "text":
        return tab, draw(st.text(max_size=40) | st.sampled_from(['{"type":"act","action":[NaN,1]}', "[" * 5000]))
    return tab, draw(st.binary(max_size=40))


_OPENINGS = [[], ["step", "step", "step"], ["take_over"], ["step", "take_over", "act", "act", "branch"]]


@st.composite
def _session(draw) -> list[tuple[int, str | bytes]]:
    """An opening that moves the session somewhere (nowhere, policy steps, correcting, a second branch), then fuzz."""
    opening = [(0, json.dumps({"type": k, **({"action": [256.0, 256.0]} if k == "act" else {})}))
               for k in draw(st.sampled_from(_OPENINGS))]
    return opening + draw(st.lists(_message(), min_size=4, max_size=24))


def _snapshot(studio) -> tuple:
    s = studio.session
    return (len(s.tree), s.cursor, s.branch_id, s.phase, s.operator_steps, studio.controller, studio.rate,
            [dataclasses.asdict(b) for b in s.tree.branches.values()], studio.log_path.read_bytes())


def _tree(s: Session) -> tuple:
    nodes = [(n.id, n.parent_id, n.branch_id, n.source, n.intervention,
              None if n.action is None else [round(float(v), 6) for v in n.action]) for n in s.tree.nodes.values()]
    return nodes, [dataclasses.asdict(b) for b in s.tree.branches.values()], s.cursor, s.branch_id


async def _run(policy, world_model, root: Path, messages: list[tuple[int, str | bytes]]) -> tuple:
    studio = make_studio(policy, world_model, root / "session", max_steps=12)
    tabs = [FakeTab(), FakeTab()]
    clients = [await studio.connect(t.send) for t in tabs]
    try:
        for who, raw in messages:
            tab, before = tabs[who], _snapshot(studio)
            seen = len(tab.got)
            await studio.handle(clients[who], raw)  # raises nothing, whatever it is sent
            replies = [m for m in tab.got[seen:] if m["type"] in ("ack", "error")]
            assert len(replies) == 1, (raw, replies)
            reply = replies[0]
            if reply["type"] == "error":
                assert isinstance(reply["message"], str) and "\n" not in reply["message"], reply
                assert 0 < len(reply["message"]) < 300 and "Traceback" not in reply["message"], reply
                assert _snapshot(studio) == before, (raw, reply)
        tree = _tree(studio.session)
    finally:
        await studio.close()
    reopened = Session.resume_from(studio.log_path, policy, world_model)
    try:
        return tree, _tree(reopened)
    finally:
        reopened.log.close()


def test_no_message_breaks_the_studio_and_errors_change_nothing(policy, world_model):
    @SETTINGS
    @given(_session())
    def check(messages):
        with tempfile.TemporaryDirectory() as d:
            live, reopened = asyncio.run(_run(policy, world_model, Path(d), messages))
        assert reopened == live

    check()


def test_the_fuzzer_reaches_both_replies_and_real_changes(policy, world_model, tmp_path):
    """A test that cannot fail is worthless: the same machinery sees acks, errors, and a tree that grows."""
    script = [(0, json.dumps(m)) for m in ({"type": "take_over"}, {"type": "act", "action": [200.0, 300.0]},
                                          {"type": "act", "action": [1e9, 0]}, {"type": "roll_back", "node": 99})]
    script.append((1, json.dumps({"type": "act", "action": [10.0, 10.0]})))  # tab 2 does not hold control

    async def go():
        studio = make_studio(policy, world_model, tmp_path / "session", max_steps=12)
        tabs = [FakeTab(), FakeTab()]
        clients = [await studio.connect(t.send) for t in tabs]
        kinds = []
        for who, raw in script:
            n = len(tabs[who].got)
            await studio.handle(clients[who], raw)
            kinds += [m["type"] for m in tabs[who].got[n:] if m["type"] in ("ack", "error")]
        size = len(studio.session.tree)
        await studio.close()
        return kinds, size

    kinds, size = asyncio.run(go())
    assert kinds == ["ack", "ack", "error", "error", "error"] and size == 2
