"""Studio latency: a key press (one `act` message) to the updated frame arriving, over loopback.

    python benchmarks/studio_latency.py [--policy CKPT] [--world-model WM] [--n 200]

Starts the real server (uvicorn, 127.0.0.1, a free port) in this process, connects one WebSocket client,
takes over and sends ``n`` corrective actions one at a time, timing each from send to the ``update``
message carrying its frame (PNG, rendered and encoded on the server). Then hands back and counts the
frames per second the page receives while the policy acts. Defaults: the checkpoints `hiwm run` writes,
else the built-in stand-ins (the same "state world model" kind: an ensemble over the scene vector).
Targets (issue #3): median <= 100 ms; >= 15 frames/s.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import uvicorn
from websockets.sync.client import connect

from hiwm.studio.core import Studio, StudioConfig
from hiwm.studio.models import load_models
from hiwm.studio.server import WS_MAX_BYTES, create_app


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(ws, pred) -> dict:
    while True:
        m = json.loads(ws.recv(timeout=10))
        if pred(m):
            return m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="pusht")
    ap.add_argument("--policy", default=None)
    ap.add_argument("--world-model", default=None)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--rate", type=float, default=15.0)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    models = load_models(a.task, a.policy, a.world_model)
    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(models, StudioConfig(task=a.task, session_dir=Path(tmp), rate_hz=a.rate, autoplay=True))
        port = _port()
        server = uvicorn.Server(uvicorn.Config(create_app(studio), host="127.0.0.1", port=port, ws_max_size=WS_MAX_BYTES,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        try:
            with connect(f"ws://127.0.0.1:{port}/ws", max_size=2**24) as ws:
                hello = _until(ws, lambda m: m["type"] == "hello")
                spec, controls = hello["spec"], hello["spec"]["controls"]
                lo, hi = np.array(spec["action_low"]), np.array(spec["action_high"])
                action = np.array(hello["nodes"][-1]["x"]) if controls["agent_is_action"] else (lo + hi) / 2
                step = np.zeros_like(lo)
                step[controls["xy"]] = controls["xy_speed"][1]  # key presses move XY by the default speed
                ws.send(json.dumps({"type": "take_over", "seq": 0}))
                _until(ws, lambda m: m["type"] in ("ack", "error") and m.get("seq") == 0)
                lat, rng = [], np.random.default_rng(0)
                for i in range(a.n):
                    action = np.clip(action + rng.normal(0, 1, len(lo)) * step, lo, hi)
                    t = time.perf_counter()
                    ws.send(json.dumps({"type": "act", "seq": i + 1, "action": action.tolist()}))
                    upd = _until(ws, lambda m: m["type"] == "update" and m.get("frame"))
                    lat.append(time.perf_counter() - t)
                    _until(ws, lambda m, i=i: m["type"] in ("ack", "error") and m.get("seq") == i + 1)
                    if upd["state"]["phase"] != "correcting":
                        break
                ws.send(json.dumps({"type": "hand_back"}))
                frames, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < 4.0:
                    m = json.loads(ws.recv(timeout=5))
                    frames += m["type"] == "update" and bool(m.get("frame")) and m["state"]["acting"] == "policy"
                fps = frames / (time.perf_counter() - t0)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    ms = np.array(lat) * 1000
    print(f"studio latency ({models.policy_path} / {models.world_model_path}, {len(ms)} key presses): "
          f"median {np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms; "
          f"autonomous {fps:.1f} frames/s at rate {a.rate:g}")


if __name__ == "__main__":
    main()
