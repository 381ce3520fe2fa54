"""A real ``hiwm studio`` server as a subprocess, and a tab that talks to it over its WebSocket like the page does.

    proc = StudioProcess(session_dir, log_dir / "start-0.log")
    proc.start()                       # seconds until the port answered; StartFailed with the last stderr line
    tab = Tab(proc.port)               # hello: nodes, branches, state
    reply = tab("act", action=[x, y])  # the ack or error with this message's seq
    proc.stop("kill")                  # SIGKILL, or "term": SIGTERM (SIGKILL after a grace period)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


class StartFailed(RuntimeError):
    """The server exited, or never answered, instead of serving."""


class Gone(RuntimeError):
    """The server's socket closed (it was killed or stopped)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class StudioProcess:
    """``python -m hiwm.cli studio --task TASK --session DIR --port P`` with its output in ``log_path``."""

    def __init__(self, session_dir: Path, log_path: Path, task: str = "pusht", extra: tuple[str, ...] = ()):
        self.session_dir, self.log_path, self.task, self.extra = Path(session_dir), Path(log_path), task, extra
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def command(self) -> list[str]:
        return [sys.executable, "-m", "hiwm.cli", "studio", "--task", self.task, "--session", str(self.session_dir),
                "--port", str(self.port), *self.extra]

    def start(self, timeout: float = 120.0) -> float:
        """Start and wait until the port answers; returns the seconds that took."""
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise StartFailed(f"exit {self.proc.returncode}: {self.last_line()}")
            if _answers(self.port):
                return time.monotonic() - t0
            time.sleep(0.05)
        self.stop("kill")
        raise StartFailed(f"no answer on port {self.port} after {timeout:.0f} s")

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, kind: str, grace: float = 30.0) -> dict:
        """End the server: ``kill`` (SIGKILL) or ``term`` (SIGTERM; SIGKILL if still alive after ``grace``)."""
        if self.proc is None or self.proc.poll() is not None:
            return {"exit": None if self.proc is None else self.proc.returncode, "hung": False}
        self.proc.send_signal(signal.SIGKILL if kind == "kill" else signal.SIGTERM)
        code = self.wait(grace)
        hung = code is None
        if hung:
            self.proc.kill()
            code = self.proc.wait()
        return {"exit": code, "hung": hung}

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def last_line(self) -> str:
        lines = [x for x in self.output().splitlines() if x.strip()]
        return lines[-1] if lines else ""


class Tab:
    """One browser tab: keeps the nodes, branches and state the server has sent."""

    def __init__(self, port: int, timeout: float = 30.0):
        try:
            self.ws = connect(f"ws://127.0.0.1:{port}/ws", max_size=None, open_timeout=timeout, compression=None)
        except (OSError, TimeoutError, ConnectionClosed) as e:
            raise Gone(f"could not connect: {e}") from None
        self.timeout = timeout
        self.seq = 0
        self.version = -1
        self.nodes: dict[int, dict] = {}
        self.branches: dict[int, dict] = {}
        self.state: dict = {}
        self.errors: list[str] = []  # messages of error replies and broadcasts
        self.hello = self.read_until(lambda m: m["type"] == "hello")
        self.spec = self.hello["spec"]

    def _absorb(self, m: dict) -> None:
        if m["type"] in ("hello", "update"):
            for n in m.get("nodes", []):
                self.nodes[n["id"]] = n
            if m["state"]["version"] > self.version:  # a late update does not undo a newer one
                self.version = m["state"]["version"]
                self.state = m["state"]
                self.branches = {b["id"]: b for b in m["branches"]}
        elif m["type"] == "error":
            self.errors.append(m.get("message", ""))

    def read_until(self, pred) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Gone(f"no reply within {self.timeout:.0f} s")
            try:
                m = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                raise Gone(f"no reply within {self.timeout:.0f} s") from None
            except (ConnectionClosed, OSError) as e:
                raise Gone(str(e) or type(e).__name__) from None
            self._absorb(m)
            if pred(m):
                return m

    def __call__(self, op: str, **fields) -> dict:
        self.seq += 1
        seq = self.seq
        try:
            self.ws.send(json.dumps({"type": op, "seq": seq, **fields}))
        except (ConnectionClosed, OSError) as e:
            raise Gone(str(e) or type(e).__name__) from None
        return self.read_until(lambda m: m["type"] in ("ack", "error") and m.get("seq") == seq)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001  (the server may be gone already)
            pass
