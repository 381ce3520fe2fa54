"""Studio helpers: a studio over the tiny policy / world model (tests/conftest.py), and a live server on a free
loopback port."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from hiwm.studio.core import Studio, StudioConfig
from hiwm.studio.failures import QueueConfig
from hiwm.studio.models import Models


def make_studio(policy, world_model, session_dir: Path, autoplay: bool = False, max_steps: int = 60,
                rate_hz: float = 15.0) -> Studio:
    models = Models(policy, world_model, "tiny", "tiny")
    cfg = StudioConfig(session_dir=session_dir, max_steps=max_steps, autoplay=autoplay, rate_hz=rate_hz, seed=1,
                       queue=QueueConfig(stall_window=5, budget=8))
    return Studio(models, cfg)


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
