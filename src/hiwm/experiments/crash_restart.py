"""Crash-and-restart soak of the studio: corrections a person made must survive any kill of the server.

The real ``hiwm studio`` runs as a subprocess on one session folder. A scripted person drives it over the
WebSocket (take over, act, hand back, roll back, branch, keep, step); the server is killed at a random
moment (SIGKILL or SIGTERM, a random mix), restarted on the same session, reconnected to, and driven on.
At the end every branch holding a corrective step is kept and exported through the studio's ``export``
message, and the corrective (``intervention``) frames in the exported dataset are checked against the
corrective steps the server acknowledged. Three more cases end in a one-line message and a session that
opens again with every acknowledged step: a torn last record, two servers on one session, a full disk
(a real tmpfs; needs root, otherwise reported as skipped).

    python -m hiwm.experiments.crash_restart --rounds 50 --out runs/crash-restart --report reports/studio-crash-restart
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hiwm.experiments.studio_process import Gone, StartFailed, StudioProcess, Tab

log = logging.getLogger(__name__)

KILL_KINDS = ("kill", "term")
LOG_NAME = "session.jsonl"  # the studio's log inside a session folder (studio/core.py)


# ------------------------------------------------------------------ ledger ----
@dataclass
class Ledger:
    """What the server acknowledged: the node id of every corrective step whose ``act`` got an ack."""

    corrective: set[int] = field(default_factory=set)
    mismatched: int = 0  # acks whose cursor was not a corrective node in the tab's view

    def record(self, tab: Tab, reply: dict) -> None:
        node = tab.nodes.get(reply["cursor"])
        if node is None or not node["i"]:
            self.mismatched += 1
        self.corrective.add(int(reply["cursor"]))

    def missing(self, tab: Tab) -> list[int]:
        """Acknowledged corrective steps the (reopened) server does not show as corrective nodes."""
        return sorted(i for i in self.corrective if i not in tab.nodes or not tab.nodes[i]["i"])


def stale_leaves(tab: Tab) -> list[int]:
    """Branches whose leaf is not their newest node (what a resumed session got wrong before)."""
    newest: dict[int, int] = {}
    for n in tab.nodes.values():
        newest[n["b"]] = max(newest.get(n["b"], -1), n["id"])
    return sorted(b for b, br in tab.branches.items() if b in newest and br["leaf"] != newest[b])


# ------------------------------------------------------------------ person ----
def _target(tab: Tab, rng: np.random.Generator) -> list[float]:
    """A drag near the agent: its position at the cursor plus a hand's jitter, inside the action box."""
    x = np.asarray(tab.nodes[tab.state["cursor"]]["x"][:2], dtype=float) + rng.normal(0, 25, 2)
    return np.clip(x, tab.spec["action_low"], tab.spec["action_high"]).round(2).tolist()


def _choose(rng: np.random.Generator, phase: str) -> str:
    menu = {  # roughly what a person does in each phase
        "paused": {"step": 3, "take_over": 4, "roll_back": 1.5, "branch": 0.5, "mark": 0.5, "resume": 0.5},
        "correcting": {"act": 8, "hand_back": 0.6, "roll_back": 0.5, "mark": 0.4, "pause": 0.4},
        "autonomous": {"take_over": 5, "pause": 2, "wait": 2},
        "ended": {"roll_back": 7, "mark": 1},
    }[phase]
    ops = list(menu)
    p = np.array([menu[o] for o in ops], dtype=float)
    return ops[rng.choice(len(ops), p=p / p.sum())]


def person(tab: Tab, rng: np.random.Generator, ledger: Ledger, seconds: float) -> dict:
    """Drive the studio until the server goes away (or ``seconds`` pass); returns what was sent and refused."""
    sent, refused = 0, 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            op = _choose(rng, tab.state["phase"])
            if op == "wait":
                tab.read_until(lambda m: m["type"] == "update")  # watch the policy for a step
                continue
            fields = {}
            if op == "act":
                fields = {"action": _target(tab, rng)}
            elif op == "roll_back":  # somewhere recent, not where the branch is about to end
                ids = sorted(i for i, n in tab.nodes.items() if n["d"] < tab.spec["max_steps"] - 30)
                fields = {"node": int(rng.choice(ids[-40:]))}
            elif op == "mark":
                fields = {"branch": tab.state["branch"], "keep": True}
            reply = tab(op, **fields)
            sent += 1
            if reply["type"] == "ack" and op == "act":
                ledger.record(tab, reply)
            elif reply["type"] == "error":
                refused += 1
            time.sleep(float(rng.uniform(0, 0.04)))
    except Gone:
        pass
    return {"sent": sent, "refused": refused}


# ------------------------------------------------------------------ export ----
def keep_and_export(tab: Tab) -> dict:
    """Keep every branch holding a corrective node, then the studio's ``export``."""
    branches = sorted({n["b"] for n in tab.nodes.values() if n["i"]})
    for b in branches:
        reply = tab("mark", branch=b, keep=True)
        if reply["type"] != "ack":
            raise RuntimeError(f"keeping branch {b} failed: {reply.get('message')}")
    reply = tab("export")
    if reply["type"] != "ack":
        raise RuntimeError(f"export failed: {reply.get('message')}")
    return {"kept": len(branches)}


def exported_corrections(dataset: Path) -> dict:
    """Corrective node ids in an exported dataset: frame i's action leads into node_id[i + 1] (the leaf last)."""
    from hiwm.data import LeRobotDataset

    ds = LeRobotDataset(dataset)
    ids: set[int] = set()
    frames = 0
    for i in range(ds.num_episodes):
        ep = ds.episode(i, decode_images=False)
        dst = [int(x) for x in ep["node_id"][1:]] + [int(ds.episodes[i]["leaf"])]
        flags = np.asarray(ep["intervention"]).reshape(-1).astype(bool)
        frames += int(flags.sum())
        ids |= {d for d, f in zip(dst, flags) if f}
    return {"episodes": ds.num_episodes, "corrective_frames": frames, "corrective_nodes": ids}


def _tracebacks(proc: StudioProcess) -> int:
    return proc.output().count("Traceback (most recent call last)")


def _finish(session: Path, proc: StudioProcess, ledger: Ledger) -> dict:
    """Reopen, keep, export, count; the server is stopped at the end."""
    out: dict = {"acknowledged": len(ledger.corrective)}
    try:
        out["reopen_s"] = round(proc.start(), 2)
        tab = Tab(proc.port)
        out["missing_at_reopen"] = ledger.missing(tab)
        out["stale_leaves"] = stale_leaves(tab)
        out.update(keep_and_export(tab))
        tab.close()
    except (StartFailed, Gone) as e:
        return {**out, "reopen_error": str(e), "lost": None, "tracebacks": _tracebacks(proc)}
    finally:
        out["stop"] = proc.stop("term")
        out["tracebacks"] = _tracebacks(proc)
    got = exported_corrections(session / "corrections")
    lost = sorted(ledger.corrective - got["corrective_nodes"])
    out.update(acknowledged=len(ledger.corrective), exported_corrective_nodes=len(got["corrective_nodes"]),
               exported_corrective_frames=got["corrective_frames"], episodes=got["episodes"], lost=len(lost),
               lost_nodes=lost[:50], unacknowledged_exported=len(got["corrective_nodes"] - ledger.corrective),
               ack_mismatches=ledger.mismatched)
    return out


# -------------------------------------------------------------------- soak ----
def run_soak(out: Path, rounds: int, seed: int = 0, kinds: list[str] | None = None,
             kill_after: tuple[float, float] = (0.5, 4.0)) -> dict:
    """``rounds`` kill-and-restart rounds on one session, then keep, export and count."""
    rng = np.random.default_rng(seed)
    if kinds is None:
        kinds = [str(k) for k in rng.choice(KILL_KINDS, rounds)]
        if rounds >= 2 and len(set(kinds)) == 1:  # a mix means both kinds
            kinds[-1] = KILL_KINDS[1 - KILL_KINDS.index(kinds[0])]
    session, logs = out / "soak" / "session", out / "soak" / "logs"
    ledger = Ledger()
    per_round = []
    for r, kind in enumerate(kinds):
        proc = StudioProcess(session, logs / f"round-{r:03d}.log")
        rec: dict = {"round": r, "kind": kind}
        try:
            rec["open_s"] = round(proc.start(), 2)
            tab = Tab(proc.port)
        except (StartFailed, Gone) as e:
            proc.stop("kill")
            rec.update(reopen_ok=False, reopen_error=str(e))
            per_round.append(rec)
            log.error("round %d: the studio did not reopen: %s", r, e)
            break
        rec.update(reopen_ok=True, nodes_at_open=len(tab.nodes), missing_at_reopen=ledger.missing(tab),
                   stale_leaves=stale_leaves(tab))
        before = len(ledger.corrective)
        delay = float(rng.uniform(*kill_after))
        stopped: dict = {}
        killer = threading.Timer(delay, lambda stopped=stopped, proc=proc, kind=kind: stopped.update(proc.stop(kind)))
        killer.start()
        rec.update(person(tab, rng, ledger, seconds=delay + 15))
        killer.join()
        tab.close()
        if proc.proc.poll() is None:  # the person stopped first: still end the round with the kill
            stopped.update(proc.stop(kind))
        rec.update(kill_after_s=round(delay, 2), exit=stopped.get("exit"), term_hung=stopped.get("hung", False),
                   acked_this_round=len(ledger.corrective) - before, tracebacks=_tracebacks(proc))
        per_round.append(rec)
        log.info("round %d (%s after %.1f s): %d corrective steps acknowledged, %d nodes at open",
                 r, kind, delay, rec["acked_this_round"], rec["nodes_at_open"])
    final = _finish(session, StudioProcess(session, logs / "final.log"), ledger) \
        if all(r["reopen_ok"] for r in per_round) else {"skipped": "a reopen failed"}
    opens = [r["open_s"] for r in per_round if "open_s" in r]
    return {
        "rounds": len(per_round), "kinds": {k: sum(r["kind"] == k for r in per_round) for k in KILL_KINDS},
        "reopen_failures": sum(not r["reopen_ok"] for r in per_round) + int("skipped" in final),
        "missing_at_reopen": sum(len(r.get("missing_at_reopen", [])) for r in per_round),
        "stale_leaves_at_reopen": sum(len(r.get("stale_leaves", [])) for r in per_round),
        "term_hung": sum(r.get("term_hung", False) for r in per_round),
        "tracebacks": sum(r.get("tracebacks", 0) for r in per_round) + final.get("tracebacks", 0),
        "open_s_median": round(statistics.median(opens), 2) if opens else None,
        "open_s_max": max(opens) if opens else None,
        "final": final, "per_round": per_round,
    }


# ----------------------------------------------------------- special cases ----
def _correct(tab: Tab, rng: np.random.Generator, ledger: Ledger, n: int) -> list[dict]:
    """Take over (if needed) and make ``n`` corrective steps; returns the error replies."""
    if tab.state["phase"] != "correcting":
        tab("take_over")
    errors = []
    for _ in range(n):
        reply = tab("act", action=_target(tab, rng))
        if reply["type"] == "ack":
            ledger.record(tab, reply)
        else:
            errors.append(reply)
    return errors


def run_torn(out: Path, seed: int = 1) -> dict:
    """A write torn half-way: the first restart cuts it off (one warning), the second opens as well."""
    rng, ledger = np.random.default_rng(seed), Ledger()
    session, logs = out / "torn" / "session", out / "torn" / "logs"
    proc = StudioProcess(session, logs / "first.log")
    proc.start()
    tab = Tab(proc.port)
    _correct(tab, rng, ledger, 8)
    tab.close()
    proc.stop("term")
    path = session / LOG_NAME
    whole = path.read_bytes()
    last = whole[:-1].rsplit(b"\n", 1)[1]
    with open(path, "ab") as f:  # the first half of a record, as a write cut short leaves it
        f.write(last[: len(last) // 2])
    torn = len(last) // 2
    proc = StudioProcess(session, logs / "restart-1.log")
    proc.start()
    tab = Tab(proc.port)
    res = {"torn_bytes": torn, "missing_at_first_restart": ledger.missing(tab)}
    _correct(tab, rng, ledger, 8)
    tab.close()
    proc.stop("kill")
    warning = [x for x in proc.output().splitlines() if "incomplete last record" in x]
    res["message"] = warning[0] if warning else None
    res["cut_reported"] = bool(warning) and f"cut {torn} bytes" in warning[0]
    res.update(_finish(session, StudioProcess(session, logs / "restart-2.log"), ledger))
    res["reopened"] = "reopen_s" in res
    return res


def run_two_servers(out: Path, seed: int = 2) -> dict:
    """A second studio on a session in use exits with one line naming the log and the holder's pid."""
    rng, ledger = np.random.default_rng(seed), Ledger()
    session, logs = out / "two-servers" / "session", out / "two-servers" / "logs"
    first = StudioProcess(session, logs / "first.log")
    first.start()
    tab = Tab(first.port)
    _correct(tab, rng, ledger, 6)
    second = StudioProcess(session, logs / "second.log")
    res: dict = {}
    try:
        second.start()
        res["second_started"] = True  # a failure of the lock
        second.stop("kill")
    except StartFailed:
        res["second_started"] = False
    res.update(second_exit=second.proc.returncode, message=second.last_line(),
               names_file=str(session / LOG_NAME) in second.last_line(),
               names_pid=f"pid {first.pid}" in second.last_line(), second_tracebacks=_tracebacks(second))
    res["first_errors_after"] = len(_correct(tab, rng, ledger, 6))  # the first goes on undisturbed
    tab.close()
    first.stop("term")
    lines = [json.loads(x) for x in (session / LOG_NAME).read_bytes().splitlines()]
    ids = [r["id"] for r in lines if r.get("kind") == "node"]
    res["duplicate_node_ids"] = len(ids) - len(set(ids))
    res.update(_finish(session, StudioProcess(session, logs / "reopen.log"), ledger))
    return res


def _fill(path: Path, leave: int) -> int:
    """Fill the file system holding ``path`` until ENOSPC, then give back ``leave`` bytes; returns the file's size."""
    chunk = b"\0" * (1 << 16)
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        size = max(0, f.tell() - leave)
        f.truncate(size)
    return size


def run_full_disk(out: Path, seed: int = 3, size: str = "4m") -> dict:
    """A real full disk (a small tmpfs): actions get one line, the session in memory stays what is on disk."""
    if os.geteuid() != 0:
        return {"skipped": "needs root to mount a tmpfs"}
    mnt = out / "full-disk" / "mnt"
    mnt.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True, text=True)
    if mounted.returncode != 0:
        return {"skipped": f"mount failed: {mounted.stderr.strip()}"}
    rng, ledger = np.random.default_rng(seed), Ledger()
    session, logs = mnt / "session", out / "full-disk" / "logs"
    res: dict = {"tmpfs": size}
    try:
        proc = StudioProcess(session, logs / "first.log")
        proc.start()
        tab = Tab(proc.port)
        _correct(tab, rng, ledger, 5)
        res["filler_bytes"] = _fill(mnt / "filler", leave=16 * 1024)
        acked_before = len(ledger.corrective)
        errors = _correct(tab, rng, ledger, 60)
        res["acked_on_full_disk"] = len(ledger.corrective) - acked_before
        res["act_errors"] = len(errors)
        # small records (a cursor move) still fit in the log's last page: roll back until even they do not
        _fill(mnt / "filler-2", leave=0)
        ids = sorted(tab.nodes)
        for res["roll_backs_that_fitted"] in range(200):
            cursor = tab.state["cursor"]
            refused = tab("roll_back", node=int(rng.choice(ids)))
            if refused["type"] == "error":
                break
        others = [refused, tab("mark", branch=tab.state["branch"], keep=True), tab("branch")]
        errors += [r for r in others if r["type"] == "error"]
        res["other_errors"] = sum(r["type"] == "error" for r in others)
        res["messages"] = sorted({r["message"] for r in errors})
        reply = tab("pause")  # not logged: its ack tells what the server holds in memory
        res["in_memory_nodes"], res["cursor_unchanged"] = reply["saved"], reply["cursor"] == cursor
        res["known_nodes"] = len(tab.nodes)
        tab.close()
        proc.stop("kill")
        res["first_tracebacks"] = _tracebacks(proc)
        proc = StudioProcess(session, logs / "reopen-full.log")  # still full: opening writes nothing
        res["reopen_full_s"] = round(proc.start(), 2)
        tab = Tab(proc.port)
        res["nodes_on_disk"] = len(tab.nodes)
        res["missing_on_full_reopen"] = ledger.missing(tab)
        tab.close()
        proc.stop("kill")
        for filler in ("filler", "filler-2"):  # space again
            (mnt / filler).unlink()
        proc = StudioProcess(session, logs / "reopen-space.log")
        proc.start()
        tab = Tab(proc.port)
        res["act_errors_with_space"] = len(_correct(tab, rng, ledger, 5))
        tab.close()
        proc.stop("term")
        res.update(_finish(session, StudioProcess(session, logs / "final.log"), ledger))
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
    return res


# ------------------------------------------------------------------ report ----
def _machine() -> dict:
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                if x.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    import torch

    here = Path(__file__).parent
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=here).stdout.strip()
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", ":/src"], capture_output=True,
                             text=True, cwd=here).stdout.split("\n")
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "commit": commit, "hiwm": str(here.parent),
            "uncommitted": sorted(x[3:] for x in changed if x.strip())}


def _figures(s: dict) -> list[tuple[str, object]]:
    """The soak's headline figures, as (label, value) rows."""
    f = s.get("final", {})
    return [
        ("rounds (kills)", f"{s['rounds']} ({s['kinds']['kill']} SIGKILL, {s['kinds']['term']} SIGTERM)"),
        ("reopen failures", s["reopen_failures"]),
        ("corrective steps acknowledged", f.get("acknowledged")),
        ("corrective steps in the export", f.get("exported_corrective_nodes")),
        ("**acknowledged corrective steps lost**", f"**{f.get('lost')}**"),
        ("acknowledged steps missing at a reopen (all rounds)", s["missing_at_reopen"]),
        ("branches with a stale leaf at a reopen (all rounds)", s["stale_leaves_at_reopen"]),
        ("exported corrective frames (with shared prefixes)", f.get("exported_corrective_frames")),
        ("episodes exported (kept branches)", f"{f.get('episodes')} ({f.get('kept')})"),
        ("durable but unacknowledged corrective steps exported", f.get("unacknowledged_exported")),
        ("SIGTERM shutdowns that hung (> 30 s)", s["term_hung"]),
        ("tracebacks in the server logs", s["tracebacks"]),
        ("restart to serving, median / max (s)", f"{s['open_s_median']} / {s['open_s_max']}"),
    ]


def _table(rows: list[tuple[str, object]], before: list[tuple[str, object]] | None) -> str:
    if before is None:
        return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])
    return "\n".join(["| | this code | before (see below) |", "|---|---|---|"]
                     + [f"| {k} | {v} | {b} |" for (k, v), (_, b) in zip(rows, before)])


def _lost(d: dict) -> str:
    if d.get("reopen_error"):
        return f"the final reopen FAILED (`{d['reopen_error']}`)"
    return f"lost {d.get('lost')} of {d.get('acknowledged')} acknowledged corrective steps"


def _case_lines(results: dict) -> str:
    out = []
    t = results.get("torn")
    if t and "error" in t:
        out.append(f"- **Torn last record**: the case broke: `{t['error']}`")
    elif t:
        out.append(f"- **Torn last record** (the first {t['torn_bytes']} bytes of a record appended): the first restart "
                   f"logged `{t['message']}`; the second restart {'opened' if t.get('reopened') else 'FAILED'}; "
                   f"{_lost(t)}.")
    w = results.get("two_servers")
    if w and "error" in w:
        out.append(f"- **Two servers on one session**: the case broke: `{w['error']}`")
    elif w:
        out.append(f"- **Two servers on one session**: the second {'STARTED' if w['second_started'] else 'did not start'}"
                   f" (exit {w['second_exit']}, last line `{w['message']}`; names the file: {w['names_file']}, the "
                   f"holder's pid: {w['names_pid']}); the first went on ({w['first_errors_after']} errors after); "
                   f"duplicate node ids in the log: {w['duplicate_node_ids']}; {_lost(w)}.")
    d = results.get("full_disk")
    if d and ("skipped" in d or "error" in d):
        out.append(f"- **Full disk**: {'skipped' if 'skipped' in d else 'the case broke'}: `{d.get('skipped') or d['error']}`")
    elif d:
        msgs = "; ".join(f"`{m}`" for m in d["messages"])
        out.append(f"- **Full disk** (a {d['tmpfs']} tmpfs filled to 16 KiB free): {d['acked_on_full_disk']} more "
                   f"corrective steps fitted, then {d['act_errors']} acts got an error; with the last bytes filled too, "
                   f"{d['roll_backs_that_fitted']} roll-backs fitted, then {d['other_errors']} of 3 changes (roll back, "
                   f"keep, branch) got an error. Messages: {msgs}. Nodes in memory {d['in_memory_nodes']}; on disk after "
                   f"a kill -9 and a reopen on the still-full disk {d['nodes_on_disk']}; the refused roll-back left the "
                   f"cursor where it was: {d['cursor_unchanged']}; with space again {d['act_errors_with_space']} errors; "
                   f"{_lost(d)}.")
    return "\n".join(out)


def _machine_line(m: dict) -> str:
    dirty = f" plus uncommitted changes to {', '.join(m['uncommitted'])}" if m.get("uncommitted") else ""
    return (f"{m['cpu']}, {m['cores']} cores, {m['os']}, Python {m['python']}, torch {m['torch']}; "
            f"hiwm at commit {m['commit']}{dirty}.")


def write_report(results: dict, report: Path, command: str) -> None:
    """README.md and results.json in ``report``; a ``before/results.json`` there (the same script on the code
    before the fix) adds its figures side by side."""
    report.mkdir(parents=True, exist_ok=True)
    tmp = report / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=1, default=list) + "\n")
    os.replace(tmp, report / "results.json")
    old = report / "before" / "results.json"
    before = json.loads(old.read_text()) if old.is_file() and report.name != "before" else None
    text = f"""# Studio crash-and-restart soak

The real `hiwm studio --task pusht` server (the shipped small models) on one session folder, driven over its
WebSocket by a scripted person (take over, act, hand back, roll back, branch, keep, step), killed at a random
moment of each round (SIGKILL or SIGTERM, a random mix), restarted on the same session and reconnected to.
At the end every branch holding a corrective step is kept and exported with the studio's `export` message, and
the corrective (`intervention`) steps in the exported dataset are checked against the corrective steps whose
`act` the server acknowledged. A step counts once however many exported branches share it. A kill between a
step's fsync and its ack leaves a step that is on disk but was never acknowledged; it is kept, and counted apart.

Command: `{command}`

Machine: {_machine_line(results['machine'])}
Wall time: {results['wall_s'] / 60:.1f} min.

## Soak

{_table(_figures(results['soak']), _figures(before['soak']) if before and 'rounds' in before.get('soak', {}) else None)}

## Other cases

{_case_lines(results)}
"""
    if before:
        text += f"""
## Before this change

`before/` holds the same script run on the code before the fix: {_machine_line(before['machine'])} Made with
`git worktree add /tmp/before {before['machine']['commit']} && cp -r src/hiwm/experiments /tmp/before/src/hiwm/ &&
PYTHONPATH=/tmp/before/src python -m hiwm.experiments.crash_restart --rounds 50 --out DIR --report
reports/studio-crash-restart/before` (its soak figures are in the table above). Its other cases:

{_case_lines(before)}
"""
    text += "\nPer-round figures and each case's details are in `results.json`; the server logs are under the run's `--out`.\n"
    (report / "README.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hiwm.experiments.crash_restart", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--out", type=Path, required=True, help="run folder (sessions, server logs); must not exist")
    p.add_argument("--report", type=Path, default=None, help="write README.md and results.json here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cases", default="soak,torn,two-servers,full-disk")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if a.out.exists():
        p.error(f"--out {a.out} exists: choose a new folder")
    cases = a.cases.split(",")
    t0 = time.monotonic()
    results: dict = {"machine": _machine()}
    runs = {"soak": lambda: run_soak(a.out, a.rounds, a.seed), "torn": lambda: run_torn(a.out),
            "two-servers": lambda: run_two_servers(a.out), "full-disk": lambda: run_full_disk(a.out)}
    for case in cases:
        try:
            results[case.replace("-", "_")] = runs[case]()
        except Exception as e:  # noqa: BLE001  (a case that breaks is a finding: record it, run the others)
            log.exception("case %s failed", case)
            results[case.replace("-", "_")] = {"error": f"{type(e).__name__}: {e}"}
    results["wall_s"] = round(time.monotonic() - t0, 1)
    command = "python -m hiwm.experiments.crash_restart " + " ".join(sys.argv[1:] if argv is None else argv)
    if a.report and "rounds" in results.get("soak", {}):
        write_report(results, a.report, command)
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, default=list, indent=1)[:4000])
    lost = results.get("soak", {}).get("final", {}).get("lost")  # exit 0 only for a clean soak
    return 0 if lost == 0 and results.get("soak", {}).get("reopen_failures") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
