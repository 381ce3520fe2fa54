"""Tabs that stop reading: a tab whose send stalls is dropped, its socket closed, its control released, and
nothing it sends afterwards is acted on (it saw none of the updates since)."""

import asyncio
import threading

from starlette.websockets import WebSocketDisconnect
from studio_helpers import FakeTab, LocalClient
from ws_client import Driver

from hiwm.studio import core
from hiwm.studio.server import SLOW_TAB_CODE, create_app


def test_a_stalled_tab_is_closed_loses_control_and_is_ignored(studio, monkeypatch):
    monkeypatch.setattr(core, "SEND_TIMEOUT_S", 0.05)

    async def scenario():
        a, b = FakeTab(), FakeTab()
        ca = await studio.connect(a.send, a.close)
        assert studio.controller == ca.id
        a.stall = True
        cb = await studio.connect(b.send, b.close)  # the control broadcast stalls on a: it is dropped
        for _ in range(20):  # let the close task run
            await asyncio.sleep(0.01)
        assert a.closed == 1 and ca.id not in studio.clients and studio.controller is None
        assert b.got[-1] == {"type": "control", "controller": None, "clients": [cb.id]}

        size, seen, zombie_seen = len(studio.session.tree), len(b.got), len(a.got)
        a.stall = False  # the zombie wakes up and acts blind: nothing happens, nothing is answered
        for raw in ('{"type":"step","seq":1}', '{"type":"claim","seq":2}', '{"type":"take_over","seq":3}'):
            await studio.handle(ca, raw)
        assert len(studio.session.tree) == size and studio.controller is None
        assert len(a.got) == zombie_seen and len(b.got) == seen, "a dropped tab gets no replies, causes no broadcasts"

        c = FakeTab()  # a fresh tab gets control as the first one did
        cc = await studio.connect(c.send, c.close)
        assert studio.controller == cc.id
        await studio.handle(cc, '{"type":"step","seq":1}')
        assert c.got[-1]["type"] == "ack" and len(studio.session.tree) == size + 1
        await studio.close()

    asyncio.run(scenario())


def test_the_server_closes_the_socket_of_a_dropped_tab(studio, monkeypatch):
    """Through the app: the first tab's sends stall, a second tab's query makes a broadcast, the first tab's
    socket is closed with the slow-tab code and the second can take control."""
    monkeypatch.setattr(core, "SEND_TIMEOUT_S", 0.05)
    first = {}
    connect = studio.connect

    async def connect_with_a_stall(send, close):
        async def maybe_stalled(text):
            if first.get("stall") and first.get("send") is maybe_stalled:
                await asyncio.Event().wait()
            await send(text)
        first.setdefault("send", maybe_stalled)
        return await connect(maybe_stalled, close)

    studio.connect = connect_with_a_stall
    with LocalClient(create_app(studio)) as tc, tc.websocket_connect("/ws") as a, tc.websocket_connect("/ws") as b:
        da, db = Driver(a.send_text, a.receive_text), Driver(b.send_text, b.receive_text)
        assert "holds control" in db("claim")["message"]
        first["stall"] = True
        assert db("scan")["type"] == "ack"  # its queue broadcast stalls on the first tab
        closed: list[int] = []

        def read_until_closed():
            try:
                while True:
                    a.receive_text()
            except WebSocketDisconnect as e:
                closed.append(e.code)

        reader = threading.Thread(target=read_until_closed, daemon=True)  # a thread: a socket left open must fail, not hang
        reader.start()
        reader.join(timeout=20)
        assert closed == [SLOW_TAB_CODE], "the dropped tab's socket was not closed"
        assert any(m["type"] == "control" and m["controller"] is None for m in db.seen), "its control was released"
        assert db("claim")["type"] == "ack" and db("step")["type"] == "ack"
    assert da.hello["client"] not in studio.clients
