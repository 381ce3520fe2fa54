"""Studio helpers: a studio over the tiny policy / world model (tests/conftest.py), a test client that talks
as a page on this machine does, and a live server on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urljoin

with warnings.catch_warnings():  # starlette >= 1.0 nudges towards httpx2; httpx still works
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

from hiwm.studio.core import Studio, StudioConfig
from hiwm.studio.failures import QueueConfig
from hiwm.studio.models import Models


def make_studio(policy, world_model, session_dir: Path, autoplay: bool = False, max_steps: int = 60,
                rate_hz: float = 15.0) -> Studio:
    models = Models(policy, world_model, "tiny", "tiny")
    cfg = StudioConfig(session_dir=session_dir, max_steps=max_steps, autoplay=autoplay, rate_hz=rate_hz, seed=1,
                       queue=QueueConfig(stall_window=5, budget=8))
    return Studio(models, cfg)


LOCAL = "http://127.0.0.1:8765"


class LocalClient(TestClient):
    """starlette's test client with a loopback Host (its default, ``testserver``, is refused by the studio's
    gate); WebSocket paths are joined to the same host."""

    def __init__(self, app, base_url: str = LOCAL, **kwargs):
        super().__init__(app, base_url=base_url, **kwargs)
        self.ws_base = "ws" + base_url[len("http"):]

    def websocket_connect(self, url: str, *args, **kwargs):
        return super().websocket_connect(urljoin(self.ws_base, url), *args, **kwargs)


class FakeTab:
    """A tab for ``Studio.connect``: keeps what it is sent; ``stall`` makes later sends hang, as a frozen tab's do."""

    def __init__(self):
        self.got: list[dict] = []
        self.stall = False
        self.closed = 0

    async def send(self, text: str) -> None:
        if self.stall:
            await asyncio.Event().wait()
        self.got.append(json.loads(text))

    async def close(self) -> None:
        self.closed += 1

    def of_type(self, kind: str) -> list[dict]:
        return [m for m in self.got if m["type"] == kind]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn in a thread (no signal handlers), stopped on exit; ``url`` is the page."""

    def __init__(self, studio: Studio, token: str | None = None):
        import uvicorn

        from hiwm.studio.server import WS_MAX_BYTES, create_app

        self.studio = studio
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        config = uvicorn.Config(create_app(studio, token), host="127.0.0.1", port=self.port, ws_max_size=WS_MAX_BYTES,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("studio server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
