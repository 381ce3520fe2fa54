"""The studio on the gripper tasks (action [x, y, z, grasp]) through the ASGI test client: the page learns the
action layout, a person acts with height and grasp, rolls back, branches and exports 4-D corrections.

The world model is the built-in stand-in over a test-only codec (gripper_helpers.py), exactly as the studio
builds it the moment a real codec for the task is registered.
"""

import base64

import cv2
import numpy as np
import pytest
from gripper_helpers import GRIPPER_TASKS, with_raw_codec
from studio_helpers import LocalClient, make_studio
from ws_client import Driver

from hiwm.data import LeRobotDataset
from hiwm.studio.models import builtin_policy, builtin_world_model
from hiwm.studio.server import create_app


@pytest.fixture(params=GRIPPER_TASKS)
def gripper_studio(request, monkeypatch, tmp_path):
    with_raw_codec(monkeypatch, request.param)
    return make_studio(builtin_policy(request.param), builtin_world_model(request.param), tmp_path / "session")


def test_hello_describes_the_action_layout(gripper_studio):
    with LocalClient(create_app(gripper_studio)) as tc, tc.websocket_connect("/ws") as ws:
        spec = Driver(ws.send_text, ws.receive_text).hello["spec"]
    c = spec["controls"]
    assert spec["action_low"] == [-0.25, -0.25, 0.005, 0.0] and spec["action_high"] == [0.25, 0.25, 0.15, 1.0]
    assert (c["xy"], c["height"], c["grasp"], c["units"]) == ([0, 1], 2, 3, ["m", "m", "m", ""])
    assert c["view"] == [-0.25, 0.25, 0.25, -0.25], "the picture has +y up: its top edge is y = +0.25"


def test_person_acts_with_height_and_grasp_branches_and_exports(gripper_studio):
    studio = gripper_studio
    with LocalClient(create_app(studio)) as tc, tc.websocket_connect("/ws") as ws:
        d = Driver(ws.send_text, ws.receive_text)
        for _ in range(3):
            assert d("step")["type"] == "ack"
        x, y, z, closed = d.last("update")["nodes"][0]["x"]
        assert d("take_over")["type"] == "ack"
        raised = [x, y, min(z + 0.04, 0.15), 0.0]  # R: up
        grasped = [x + 0.02, y, raised[2], 1.0]  # D, then G: close
        for a in (raised, grasped, grasped):
            assert d("act", action=a)["type"] == "ack"
        agent = d.last("update")["nodes"][0]["x"]
        assert agent[2] > z + 0.02 and agent[3] >= 0.5, "the predicted gripper rose and closed"
        assert d("roll_back", node=2)["cursor"] == 2
        assert d("branch")["type"] == "ack" and d.last("update")["state"]["branch"] == 1
        lowered = [x, y, 0.005, 1.0]  # F: down, grasp closed
        assert d("take_over")["type"] == "ack"
        for _ in range(3):
            assert d("act", action=lowered)["type"] == "ack"
        assert d("hand_back")["type"] == "ack"
        assert d("mark", branch=1, keep=True)["type"] == "ack"
        assert d("export")["type"] == "ack"
        assert [(r["branch"], r["frames"], r["interventions"]) for r in d.last("exported")["records"]] == [(1, 5, 3)]
    ep = LeRobotDataset(studio.dataset_root).episode(0, decode_images=False)
    assert ep["action"].shape == (5, 4) and ep["observation.state"].shape == (5, 4)
    assert ep["intervention"].tolist() == [False, False, True, True, True]
    np.testing.assert_allclose(ep["action"][2:], np.array([lowered] * 3, np.float32))
    assert ep["source"].tolist()[2:] == ["operator"] * 3


def test_bad_gripper_actions_are_refused(gripper_studio):
    with LocalClient(create_app(gripper_studio)) as tc, tc.websocket_connect("/ws") as ws:
        d = Driver(ws.send_text, ws.receive_text)
        d("take_over")
        before = len(gripper_studio.session.tree)
        for bad in ([0.0, 0.0], [0.0, 0.0, 0.05], [0.0, 0.0, 0.05, 1.0, 0.0], [0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.05, 1.5],
                    [0.3, 0.0, 0.05, 0.0]):
            reply = d("act", action=bad)
            assert reply["type"] == "error" and "action" in reply["message"], bad
        assert d.raw('{"type":"act","action":[0,0,NaN,1]}')["type"] == "error"
        assert len(gripper_studio.session.tree) == before
        assert d("act", action=[0.0, 0.0, 0.05, 1.0])["type"] == "ack"


def test_frames_and_meters_follow_the_predicted_scene(gripper_studio):
    studio, task = gripper_studio, gripper_studio.task
    with LocalClient(create_app(studio)) as tc, tc.websocket_connect("/ws") as ws:
        d = Driver(ws.send_text, ws.receive_text)
        x, y = d.hello["nodes"][0]["x"][:2]
        far = [-0.25 if x > 0 else 0.25, -0.25 if y > 0 else 0.25, 0.15, 0.0]  # the opposite corner, up high
        d("take_over")
        d("act", action=far)
        jump = d.last("update")["state"]
        for _ in range(6):
            d("act", action=far)
        calm = d.last("update")["state"]
        d("hand_back")
        assert d("scan")["type"] == "ack"
        queue = d.last("queue")["queue"]
    png = cv2.imdecode(np.frombuffer(base64.b64decode(d.hello["frame"]), np.uint8), cv2.IMREAD_COLOR)
    want = task.render_scene(task.initial_scene(studio.cfg.initial_seed), studio.cfg.frame_size)
    assert np.array_equal(png[..., ::-1], want), "the frame is the task's own picture of the predicted scene"
    assert jump["warn"] and jump["trust"] < 0.5, "a long jump: the ensemble disagrees, trust falls"
    assert not calm["warn"] and calm["trust"] > 0.9, "holding still: the members agree again"
    assert 0.0 <= jump["progress"] <= 1.0 and 0.0 <= calm["progress"] <= 1.0
    assert any(q["reason"] == "uncertain" and q["value"] > 0.005 for q in queue), queue
