"""A small synchronous driver for the studio's WebSocket (starlette's test client or a live socket)."""

from __future__ import annotations

import json
from typing import Any, Callable


class Driver:
    """Sends one message and reads until its ack / error; everything read on the way is kept in ``seen``."""

    def __init__(self, send_text: Callable[[str], Any], receive_text: Callable[[], str]):
        self._send, self._recv = send_text, receive_text
        self.seq = 0
        self.seen: list[dict] = []
        self.hello = self.read_until(lambda m: m["type"] == "hello")

    def read_until(self, pred) -> dict:
        while True:
            m = json.loads(self._recv())
            self.seen.append(m)
            if pred(m):
                return m

    def raw(self, text: str) -> dict:
        """Send raw text; the reply is the next error (or ack)."""
        self._send(text)
        return self.read_until(lambda m: m["type"] in ("error", "ack"))

    def __call__(self, type: str, **fields) -> dict:
        self.seq += 1
        seq = self.seq
        self._send(json.dumps({"type": type, "seq": seq, **fields}))
        return self.read_until(lambda m: m["type"] in ("ack", "error") and m.get("seq") == seq)

    def last(self, type: str) -> dict:
        return next(m for m in reversed(self.seen) if m["type"] == type)
