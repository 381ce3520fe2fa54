"""The session log as a journal: leaves rebuilt on resume, torn tails cut, one writer, durable-before-applied,
checksums, and a policy whose action is not finite."""

import dataclasses
import errno
import fcntl
import json
import logging
import os

import numpy as np
import pytest
import torch

from hiwm.errors import HiwmError
from hiwm.session import store
from hiwm.session.engine import Session, SessionConfig
from hiwm.session.export import branch_frames, exportable_branches
from hiwm.session.machine import Phase


def _start(policy, world_model, obs0, path, max_steps=300):
    return Session.start(policy, world_model, obs0, SessionConfig(max_steps=max_steps, seed=1), log_path=path)


def _crash(s: Session) -> None:
    """The process dies: its descriptor (and lock) goes, nothing more is written."""
    s.log.close()


def _snapshot(s: Session) -> tuple:
    return (sorted(s.tree.nodes), {k: list(v) for k, v in s.tree.children.items()},
            [dataclasses.asdict(b) for b in s.tree.branches.values()], s.cursor, s.branch_id, s.phase,
            s.operator_steps)


def _forked_corrections(policy, world_model, obs0, path) -> Session:
    """4 policy steps, roll back to node 2, a new branch with 3 corrective steps (nodes 5, 6, 7)."""
    s = _start(policy, world_model, obs0, path)
    s.resume()
    for _ in range(4):
        s.step()
    s.roll_back(2)
    s.branch()
    s.take_over()
    for k in range(3):
        s.act([200.0 + 20 * k, 300.0])
    return s


def test_a_resumed_session_continues_the_branch_being_corrected(policy, world_model, obs0, tmp_path):
    path = tmp_path / "s.jsonl"
    s = _forked_corrections(policy, world_model, obs0, path)
    _crash(s)
    for k in range(3):  # several restarts, a correction after each
        r = Session.resume_from(path, policy, world_model)
        assert r.tree.branches[1].leaf == len(r.tree) - 1, "the leaf comes from the newest node record"
        r.take_over()
        n = r.act([250.0, 250.0 + k])
        assert n.branch_id == 1 and len(r.tree.branches) == 2, "the correction goes on the same branch"
        _crash(r)
    r = Session.resume_from(path, policy, world_model)
    f = branch_frames(r.tree, 1, world_model.checkpoint_id())
    assert int(f["intervention"].sum()) == 6, "every acknowledged corrective step is exported"
    assert exportable_branches(r.tree) == [1]
    r.log.close()


def test_a_torn_last_record_is_cut_before_new_records_are_appended(policy, world_model, obs0, tmp_path, caplog):
    path = tmp_path / "s.jsonl"
    s = _forked_corrections(policy, world_model, obs0, path)
    _crash(s)
    whole = path.read_bytes()
    last = whole[:-1].rsplit(b"\n", 1)[1]
    path.write_bytes(whole + last[: len(last) // 2])  # a write torn half-way
    with caplog.at_level(logging.WARNING, logger="hiwm.session.store"):
        r = Session.resume_from(path, policy, world_model)
    assert f"cut {len(last) // 2} bytes" in caplog.text
    assert path.read_bytes() == whole and len(r.tree) == 8
    r.take_over()
    r.act([100.0, 100.0])
    _crash(r)
    again = Session.resume_from(path, policy, world_model)  # the second restart opens too
    assert len(again.tree) == 9 and again.tree.get(8).intervention and again.tree.branches[1].leaf == 8
    again.log.close()


def test_a_second_opener_is_refused_with_one_line(policy, world_model, obs0, tmp_path):
    path = tmp_path / "s.jsonl"
    s = _start(policy, world_model, obs0, path)
    with pytest.raises(HiwmError) as e:
        Session.resume_from(path, policy, world_model)
    msg = str(e.value)
    assert "in use by another process" in msg and str(path) in msg and f"pid {os.getpid()}" in msg and "\n" not in msg
    s.resume()
    s.step()  # the first holder goes on undisturbed
    s.log.close()
    r = Session.resume_from(path, policy, world_model)
    assert len(r.tree) == 2
    r.log.close()


OPS = {  # each kind of change: (what a person does first, unlogged; the change that is written)
    "step": (lambda s: s.resume(), lambda s: s.step()),
    "act": (lambda s: s.take_over(), lambda s: s.act([300.0, 200.0])),
    "roll_back": (lambda s: s.take_over(), lambda s: s.roll_back(1)),
    "branch": (lambda s: None, lambda s: s.branch()),
    "mark": (lambda s: None, lambda s: s.mark(0, keep=True)),
    "end": (lambda s: None, lambda s: s.end("failure")),
    "step_from_inside": (lambda s: (s.roll_back(1), s.resume()), lambda s: s.step()),  # a new branch and its node
    "step_that_ends": (lambda s: s.resume(), lambda s: s.step()),  # the node and the branch's end
}


def _no_space(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _half_then_no_space():
    """os.write on a nearly full disk: the first half of the first write lands, then ENOSPC."""
    calls = []

    def write(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return os.write(fd, data[: len(data) // 2])
        _no_space()
    return write


FAILURES = {  # (module attribute of hiwm.session.store's os layer, failing stand-in)
    "nothing-written": lambda: (store, "_os_write", _no_space),
    "half-written": lambda: (store, "_os_write", _half_then_no_space()),
    "fsync-fails": lambda: (store.os, "fsync", _no_space),  # the bytes were written, not made durable
}


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("op", list(OPS))
def test_a_failed_write_changes_nothing(policy, world_model, obs0, tmp_path, monkeypatch, op, failure):
    path = tmp_path / "s.jsonl"
    s = _start(policy, world_model, obs0, path, max_steps=4 if op == "step_that_ends" else 300)
    s.resume()
    for _ in range(3):
        s.step()
    s.pause()
    setup, change = OPS[op]
    setup(s)
    before, disk = _snapshot(s), path.read_bytes()
    with monkeypatch.context() as m:
        m.setattr(*FAILURES[failure]())
        with pytest.raises(HiwmError) as e:
            change(s)
    assert str(e.value) == f"could not write the session log {path}: No space left on device"
    assert path.read_bytes() == disk, "no half record is left behind"
    assert _snapshot(s) == before, "the session in memory is as it was"
    change(s)  # space again: the same change now goes through
    assert _snapshot(s) != before
    if op == "step_that_ends":
        assert s.phase == Phase.ENDED and s.tree.branches[0].outcome != "unjudged"
    s.log.close()
    r = Session.resume_from(path, policy, world_model)
    assert _snapshot(r)[:5] == _snapshot(s)[:5] and r.operator_steps == s.operator_steps
    r.log.close()


def test_a_failed_create_leaves_no_log(policy, world_model, obs0, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "_os_write", _half_then_no_space())
    with pytest.raises(HiwmError, match="could not write the session log .*: No space left on device"):
        _start(policy, world_model, obs0, tmp_path / "s.jsonl")
    assert list(tmp_path.iterdir()) == [], "the log appears whole or not at all"


def test_a_non_finite_policy_action_is_refused_and_changes_nothing(policy, world_model, obs0, tmp_path):
    with torch.no_grad():  # NaN weights (a diverged training); the first step predicts a fresh chunk
        for p in policy.parameters():
            p.fill_(float("nan"))
    s = _start(policy, world_model, obs0, tmp_path / "s.jsonl")
    s.resume()
    before, disk = _snapshot(s), (tmp_path / "s.jsonl").read_bytes()
    with pytest.raises(HiwmError) as e:
        s.step()
    assert str(e.value).startswith("policy diffusion gave a non-finite action") and "\n" not in str(e.value)
    assert _snapshot(s) == before and s.phase == Phase.AUTONOMOUS
    assert (tmp_path / "s.jsonl").read_bytes() == disk
    s.log.close()


# ------------------------------------------------------------- malformed logs ----
def _edit(path, line: int, fn) -> None:
    """Change record ``line`` (1-based) with ``fn(record) -> record or bytes``; a record gets a fresh checksum."""
    lines = path.read_bytes().split(b"\n")
    record = json.loads(lines[line - 1])
    record.pop("crc", None)
    out = fn(record)
    lines[line - 1] = out if isinstance(out, bytes) else store.encode_line(out)[:-1]
    path.write_bytes(b"\n".join(lines))


def _tensor(r: dict) -> dict:
    return r["wm_state"]["scenes"]


def _drop(key):
    return lambda r: {k: v for k, v in r.items() if k != key}


def _set(fn):
    def edit(r):
        fn(r)
        return r
    return edit


CASES = {
    "missing-key": (5, _drop("progress"), "lacks progress"),
    "bad-hex": (5, _set(lambda r: _tensor(r).update(hex="zz" + _tensor(r)["hex"][2:])), "non-hex"),
    "wrong-shape": (5, _set(lambda r: _tensor(r).update(shape=[1, 3, 5])), "does not match shape"),
    "bad-dtype": (5, _set(lambda r: _tensor(r).update(dtype="float99")), "unknown dtype"),
    "wrong-obs-length": (5, _set(lambda r: r["obs"]["observation.state"].append(1.0)), "the root's has 2"),
    "wrong-action-length": (5, _set(lambda r: r["action"].append(1.0)), "the task's actions have 2"),
    "bad-source": (5, _set(lambda r: r.update(source="ghost")), "source must be one of"),
    "non-utf8": (5, lambda r: b'{"kind":"node","x":"\xff\xfe"}', "not UTF-8"),
    "json-list": (5, lambda r: b"[1, 2, 3]", "must be a JSON object, got a list"),
    "not-json": (5, lambda r: b"{nope", "not valid JSON"),
    "unknown-kind": (5, _set(lambda r: r.update(kind="comet")), "unknown record kind"),
    "out-of-order": (5, _set(lambda r: r.update(id=1)), "node 1 is out of order (expected 2)"),
    "no-config": (1, _drop("config"), "the header has no config"),
    "bad-config": (1, _set(lambda r: r["config"].update(max_steps="many")), "max_steps = many is not valid"),
    "unknown-config": (1, _set(lambda r: r["config"].update(speed=3)), "unknown session config keys"),
    "checksum": (5, lambda r: store.encode_line(r)[:-1].replace(b'"depth":2', b'"depth":2.0'), "checksum mismatch"),
    "no-checksum": (5, lambda r: json.dumps(r).encode(), "has no checksum"),
    "bad-branch": (3, _set(lambda r: r.update(leaf=99)), "names node 0 / 99"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_malformed_record_is_one_line_naming_file_and_line(policy, world_model, obs0, tmp_path, case):
    path = tmp_path / "s.jsonl"
    s = _start(policy, world_model, obs0, path)  # lines: header, root node, branch 0, nodes 1, 2, 3
    s.resume()
    for _ in range(3):
        s.step()
    s.log.close()
    line, fn, expected = CASES[case]
    _edit(path, line, fn)
    with pytest.raises(HiwmError) as e:
        Session.resume_from(path, policy, world_model)
    msg = str(e.value)
    where = f"{path}: line {line}: "
    assert msg.startswith(where) and expected in msg and "\n" not in msg, msg
    fd = os.open(path, os.O_RDONLY)  # a failed open lets go of its lock: the file can be fixed and reopened
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def test_a_log_written_before_checksums_opens(policy, world_model, obs0, tmp_path):
    path = tmp_path / "s.jsonl"
    s = _forked_corrections(policy, world_model, obs0, path)
    s.log.close()
    old = [json.loads(x) for x in path.read_bytes().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "crc"}) + "\n" for r in old))
    r = Session.resume_from(path, policy, world_model)
    assert len(r.tree) == 8 and r.tree.branches[1].leaf == 7 and np.array_equal(
        r.tree.get(7).wm_state.scenes.numpy(), s.tree.get(7).wm_state.scenes.numpy())
    r.take_over()
    r.act([1.0, 1.0])  # new records (with checksums) after old ones
    r.log.close()
    again = Session.resume_from(path, policy, world_model)
    assert len(again.tree) == 9
    again.log.close()
