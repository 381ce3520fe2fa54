"""The page's input adapters (static/adapters.js) on each task's action layout, run in Node with a stub window:
keys, a fake gamepad and the frame mapping give the actions the layout promises (skipped without `node`)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hiwm.tasks import action_layout, task_class

NODE = shutil.which("node")
ADAPTERS = Path(__file__).parents[2] / "src" / "hiwm" / "studio" / "static" / "adapters.js"
pytestmark = pytest.mark.skipif(NODE is None, reason="no node to run the page's JavaScript")

# Drives one hub: WASD/R/G keys, then a gamepad (left stick up, right trigger, Y), then a point on the frame.
SCRIPT = r"""
const vm = require("vm"), fs = require("fs");
const [src, arg] = process.argv.slice(-2), spec = JSON.parse(arg);
const listeners = {}, pad = { connected: true, axes: [0, 0], buttons: Array.from({ length: 8 }, () => ({ pressed: false, value: 0 })) };
const ctx = { window: { addEventListener: (t, f) => (listeners[t] = listeners[t] || []).push(f) },
              performance: { now: () => 0 }, navigator: { getGamepads: () => [pad] }, setInterval: () => 0, Math };
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(src, "utf8"), ctx);
const { InputHub, KeyboardAdapter, GamepadAdapter } = ctx.window.HiwmInput;
const sent = [], out = {};
const hub = new InputHub({ low: spec.low, high: spec.high, fps: 10, layout: spec.layout, send: (a) => sent.push(a), command: () => {} });
const kb = hub.add(new KeyboardAdapter()), gp = hub.add(new GamepadAdapter());
const key = (type, code) => listeners[type].forEach((f) => f({ code, repeat: false, shiftKey: false, target: { tagName: "CANVAS" }, preventDefault() {} }));
const press = (code) => { hub.reset(spec.start); key("keydown", code); key("keyup", code); return hub.target.slice(); };
out.W = press("KeyW"); out.D = press("KeyD"); out.R = press("KeyR"); out.PageDown = press("PageDown");
hub.reset(spec.start); sent.length = 0; key("keydown", "KeyG"); out.G = sent.slice();
hub.reset(spec.start); pad.axes = [0, -1]; pad.buttons[7].value = 1; gp.poll(hub); out.pad = hub.target.slice();
pad.axes = [0, 0]; pad.buttons[7].value = 0; gp.poll(hub);
hub.reset(spec.start); pad.buttons[3].pressed = true; gp.poll(hub); out.padY = hub.target.slice();
hub.moveToScreen(0.25, 0.25); out.screen = hub.target.slice(); out.back = hub.toScreen(hub.target);
console.log(JSON.stringify(out));
"""


def _drive(task: str, start: list[float]) -> dict:
    spec = task_class(task).spec_
    arg = {"low": list(spec.action_low), "high": list(spec.action_high), "start": start,
           "layout": action_layout(spec).to_dict()}
    res = subprocess.run([NODE, "-e", SCRIPT, str(ADAPTERS), json.dumps(arg)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_pusht_keys_move_the_pusher_target_in_the_picture_frame():
    out = _drive("pusht", [256.0, 256.0])
    assert out["W"] == [256.0, 244.0] and out["D"] == [268.0, 256.0], "up the picture is -y (px)"
    assert out["R"] == out["PageDown"] == [256.0, 256.0], "no height on Push-T"
    assert out["G"] == [] and out["padY"] == [256.0, 256.0], "no grasp on Push-T"
    assert out["pad"] == [256.0, 244.0] and out["screen"] == [128.0, 128.0]


@pytest.mark.parametrize("task", ["rope-route", "towel-fold"])
def test_gripper_keys_move_xy_height_and_grasp(task):
    start = [0.0, 0.0, 0.08, 0.0]
    out = _drive(task, start)
    assert out["W"] == pytest.approx([0.0, 0.01, 0.08, 0.0]), "up the picture is +y (m)"
    assert out["D"] == pytest.approx([0.01, 0.0, 0.08, 0.0])
    assert out["R"] == pytest.approx([0.0, 0.0, 0.09, 0.0]) and out["PageDown"] == pytest.approx([0.0, 0.0, 0.07, 0.0])
    assert out["G"] == [[0.0, 0.0, 0.08, 1.0]], "G closes the open grasp and acts at once"
    assert out["pad"] == pytest.approx([0.0, 0.01, 0.09, 0.0]), "stick up: +y; right trigger: up"
    assert out["padY"] == pytest.approx([0.0, 0.0, 0.08, 1.0])
    assert out["screen"] == pytest.approx([-0.125, 0.125, 0.08, 1.0]) and out["back"] == pytest.approx([0.25, 0.25])
