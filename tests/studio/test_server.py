"""The studio server through an ASGI test client: events, validation, control, persistence, export."""

import numpy as np
import pytest
from studio_helpers import LocalClient, make_studio
from ws_client import Driver

from hiwm.data import LeRobotDataset
from hiwm.errors import HiwmError
from hiwm.studio.server import check_bind, create_app


def _driver(ws) -> Driver:
    return Driver(ws.send_text, ws.receive_text)


def test_hello_then_events_drive_the_engine(studio):
    with LocalClient(create_app(studio)) as tc, tc.websocket_connect("/ws") as ws:
        d = _driver(ws)
        assert d.hello["spec"]["action_high"] == [512.0, 512.0] and len(d.hello["nodes"]) == 1
        assert d.hello["frame"] and d.hello["state"]["phase"] == "paused"
        assert d("step")["type"] == "ack"
        upd = d.last("update")
        assert upd["state"]["depth"] == 1 and upd["state"]["phase"] == "paused" and upd["nodes"][0]["s"] == "policy"
        assert d("take_over")["type"] == "ack"
        assert d("act", action=[300.0, 200.0])["saved"] == 3  # root + policy step + correction, on disk
        node = d.last("update")["nodes"][0]
        assert node["s"] == "operator" and node["i"] and node["a"] == [300.0, 200.0]
        assert d("hand_back")["type"] == "ack" and d.last("update")["state"]["acting"] == "policy"
    tree = studio.session.tree
    assert [n.source for n in tree.nodes.values()] == ["initial", "policy", "operator"]


def test_bad_messages_get_an_error_and_change_nothing(studio):
    with LocalClient(create_app(studio)) as tc, tc.websocket_connect("/ws") as ws:
        d = _driver(ws)
        d("step")
        before = (len(studio.session.tree), studio.session.cursor, studio.session.phase)
        bad = ['{"type":"act","action":[NaN,1]}', "{oops", '{"type":"nuke"}', '{"type":"act","action":[1,2,3]}',
               '{"type":"roll_back","node":-4}', "x" * 5000, '{"type":"mark","branch":0,"outcome":"meh"}']
        for raw in bad:
            assert d.raw(raw)["type"] == "error"
        assert d("act", action=[600.0, 1.0])["type"] == "error"  # out of the action box
        assert d("act", action=[10.0, 10.0])["message"] == "'act' is not allowed while paused"
        assert "unknown node id" in d("roll_back", node=999)["message"]
        assert "unknown branch id" in d("mark", branch=42, keep=True)["message"]
        assert d("hand_back")["type"] == "error"
        assert (len(studio.session.tree), studio.session.cursor, studio.session.phase) == before
        assert d("step")["type"] == "ack", "the server still works after the bad messages"


def test_one_tab_controls_the_others_watch(studio):
    with LocalClient(create_app(studio)) as tc, tc.websocket_connect("/ws") as a, tc.websocket_connect("/ws") as b:
        da, db = _driver(a), _driver(b)
        assert da.hello["client"] != db.hello["client"]
        assert "holds control" in db("step")["message"]
        assert "holds control" in db("claim")["message"]
        assert db("scan")["type"] == "ack", "watching tabs may still query"
        da("step")
        assert db.read_until(lambda m: m["type"] == "update")["state"]["depth"] == 1, "watchers see every update"
        da("release")
        assert db("claim")["type"] == "ack"
        assert db("step")["type"] == "ack" and "holds control" in da("step")["message"]
        # the controlling tab closing frees control for the others (and, waited for here, leaves no broadcast
        # in flight when the client tears down: that race once failed this test under CPU load)
        b.close()
        assert da.read_until(lambda m: m["type"] == "control" and m["controller"] is None)["clients"] == \
            [da.hello["client"]]


def test_roll_back_branch_keep_discard_and_export(studio, tmp_path):
    with LocalClient(create_app(studio)) as tc, tc.websocket_connect("/ws") as ws:
        d = _driver(ws)
        for _ in range(4):
            d("step")
        assert d("roll_back", node=2)["cursor"] == 2
        assert d("branch")["type"] == "ack"
        d("take_over")
        for x in (100.0, 120.0, 140.0):
            d("act", action=[x, 300.0])
        d("hand_back")
        d("roll_back", node=1)
        d("take_over")
        d("act", action=[400.0, 400.0])
        branches = d.last("update")["branches"]
        assert [b["id"] for b in branches] == [0, 1, 2]
        assert "no kept branch" in d("export")["message"]
        d("mark", branch=1, keep=True)
        d("mark", branch=2, keep=False)
        assert d("export")["type"] == "ack"
        rec = d.last("exported")["records"]
        assert [(r["branch"], r["frames"], r["interventions"]) for r in rec] == [(1, 5, 3)]
        assert d("export")["type"] == "ack" and d.last("exported")["records"] == [], "exporting twice adds nothing"
    ds = LeRobotDataset(studio.dataset_root)
    assert ds.num_episodes == 1
    ep = ds.episode(0, decode_images=False)
    assert ep["intervention"].tolist() == [False, False, True, True, True]
    assert ep["branch_id"].tolist() == [1] * 5 and ep["source"].tolist()[2:] == ["operator"] * 3


def test_a_killed_server_restarts_into_the_same_session(tmp_path, policy, world_model):
    s1 = make_studio(policy, world_model, tmp_path / "s")
    with LocalClient(create_app(s1)) as tc, tc.websocket_connect("/ws") as ws:
        d = _driver(ws)
        d("step")
        d("take_over")
        d("act", action=[250.0, 250.0])
        d("roll_back", node=1)
        d("mark", branch=0, keep=True)
    nodes = {i: (n.source, n.action is None or n.action.tolist()) for i, n in s1.session.tree.nodes.items()}
    s2 = make_studio(policy, world_model, tmp_path / "s")  # what `hiwm studio` does on restart
    assert s2.session_id == s1.session_id
    assert {i: (n.source, n.action is None or n.action.tolist()) for i, n in s2.session.tree.nodes.items()} == nodes
    assert s2.session.cursor == 1 and s2.session.tree.branches[0].keep is True
    with LocalClient(create_app(s2)) as tc, tc.websocket_connect("/ws") as ws:
        d = _driver(ws)
        assert len(d.hello["nodes"]) == 3 and d.hello["state"]["cursor"] == 1


def test_failure_queue_flags_stalls(studio):
    with LocalClient(create_app(studio)) as tc, tc.websocket_connect("/ws") as ws:
        d = _driver(ws)
        for _ in range(8):
            d("step")
        assert d("scan")["type"] == "ack"
        queue = d.last("queue")["queue"]
    assert any(q["reason"] == "stall" for q in queue), queue
    assert all(np.isfinite(q["value"]) for q in queue)
    assert any(n in studio.spreads for n in range(9)), "the policy's own samples were compared"


def test_binding_beyond_loopback_needs_a_flag_and_a_token():
    assert check_bind("127.0.0.1", False, None) is None
    with pytest.raises(HiwmError, match="--allow-remote"):
        check_bind("0.0.0.0", False, None)
    assert check_bind("0.0.0.0", True, "t") == "t" and len(check_bind("0.0.0.0", True, None)) >= 16
