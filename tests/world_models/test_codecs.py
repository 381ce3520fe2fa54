"""Scene codecs, over every registered one: shapes, round trip, numpy == torch, inputs untouched; the
gripper codecs' frame (invariance to turning and shifting the scene) and what they copy."""

import math

import numpy as np
import pytest
import torch

from hiwm.world_models.ensemble.features import SCENE_CODECS
from hiwm.world_models.ensemble.gripper import GripperCodec
from wm_fixtures import trajectory

N_HIST = 2
CODECS = SCENE_CODECS.names()
GRIPPER = [n for n in CODECS if issubclass(SCENE_CODECS.get(n), GripperCodec)]


def windows(name: str):
    """(hist (B, H, D), into (B, H, A), action (B, A), next (B, D)) from a real trajectory, float32."""
    scenes, actions = trajectory(name)
    k = np.arange(len(actions) - 1)
    hist = np.stack([scenes[k], scenes[k + 1]], 1)
    into = np.stack([actions[np.maximum(k - 1, 0)], actions[k]], 1)
    return [x.astype(np.float32) for x in (hist, into, actions[k + 1], scenes[k + 2])]


def test_every_task_has_a_codec():
    from hiwm.tasks import TASKS

    assert set(TASKS.names()) <= set(CODECS)


@pytest.mark.parametrize("name", CODECS)
def test_shapes_and_round_trip(name):
    codec = SCENE_CODECS.get(name)(N_HIST)
    hist, into, action, nxt = windows(name)
    b, d = nxt.shape
    assert d == codec.scene_dim and action.shape[-1] == codec.action_dim
    assert codec.inputs(hist, into, action).shape == (b, codec.n_in)
    now = hist[:, -1]
    delta = codec.targets(now, nxt, action)
    assert delta.shape == (b, codec.n_out) and np.all(np.isfinite(delta))
    back = codec.apply(now, delta, action)
    assert back.shape == (b, d)
    if name == "pusht":  # angles come back wrapped
        back[:, 4] = nxt[:, 4] + np.remainder(back[:, 4] - nxt[:, 4] + math.pi, 2 * math.pi) - math.pi
    np.testing.assert_allclose(back, nxt, atol=2e-5)
    assert codec.points(now).shape[:-1] == (b, codec.points(now).shape[-2])
    members = np.stack([delta, delta + 0.1, delta - 0.1])  # (E, B, n_out)
    assert codec.spread(members).shape == (b,) and np.all(codec.spread(members) > 0)
    assert np.allclose(codec.spread(np.stack([delta, delta])), 0.0, atol=1e-6)
    assert codec.rest_action(now).shape == (b, codec.action_dim)
    for measure in codec.errors(now, now).values():
        assert measure.shape == (b,) and np.allclose(measure, 0.0)


@pytest.mark.parametrize("name", CODECS)
def test_numpy_equals_torch_and_inputs_unchanged(name):
    codec = SCENE_CODECS.get(name)(N_HIST)
    hist, into, action, nxt = windows(name)
    before = [x.copy() for x in (hist, into, action, nxt)]
    t = [torch.from_numpy(x.copy()) for x in (hist, into, action, nxt)]
    now, now_t = hist[:, -1], t[0][:, -1]
    delta = codec.targets(now, nxt, action)
    pairs = [
        (codec.inputs(hist, into, action), codec.inputs(t[0], t[1], t[2])),
        (delta, codec.targets(now_t, t[3], t[2])),
        (codec.apply(now, delta, action), codec.apply(now_t, torch.from_numpy(delta), t[2])),
        (codec.points(now), codec.points(now_t)),
        (codec.spread(np.stack([delta, 1.1 * delta])), codec.spread(torch.from_numpy(np.stack([delta, 1.1 * delta])))),
        (codec.rest_action(now), codec.rest_action(now_t)),
    ]
    for a, b in pairs:
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-5)
    for x, y in zip(before, (hist, into, action, nxt)):
        assert np.array_equal(x, y)


def _turn_scene(codec, scene, action, angle, shift):
    """Turn every horizontal position of scene (..., D) and action (..., 4) by ``angle`` about the origin,
    then shift them by ``shift`` (2,)."""
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]], dtype=np.float32)
    scene, action = scene.copy(), action.copy()
    pts = np.concatenate([scene[..., None, 0:3], codec._points(scene)], -2)
    pts[..., :2] = pts[..., :2] @ rot.T + shift
    scene[..., 0:3] = pts[..., 0, :]
    scene[..., codec.POINTS] = pts[..., 1:, :].reshape(*scene.shape[:-1], -1)
    static = scene[..., codec.STATIC].reshape(*scene.shape[:-1], -1, 2)
    scene[..., codec.STATIC] = (static @ rot.T + shift).reshape(*scene.shape[:-1], -1)
    action[..., :2] = action[..., :2] @ rot.T + shift
    return scene, action


@pytest.mark.parametrize("name", GRIPPER)
def test_gripper_codec_sees_the_same_whichever_way_the_scene_is_turned(name):
    codec = SCENE_CODECS.get(name)(N_HIST)
    hist, into, action, nxt = windows(name)
    feats, delta = codec.inputs(hist, into, action), codec.targets(hist[:, -1], nxt, action)
    shift = np.array([0.03, -0.05], np.float32)
    hist2, into2 = _turn_scene(codec, hist, into, 0.7, shift)
    nxt2, action2 = _turn_scene(codec, nxt, action, 0.7, shift)
    np.testing.assert_allclose(codec.inputs(hist2, into2, action2), feats, atol=1e-4)
    np.testing.assert_allclose(codec.targets(hist2[:, -1], nxt2, action2), delta, atol=1e-4)


@pytest.mark.parametrize("name", GRIPPER)
def test_gripper_codec_copies_what_is_known(name):
    """Whatever the network predicts, static entries stay and the closed flag follows the grasp command;
    a zero change moves the gripper by its controller's step and the held point (if any) with it."""
    codec = SCENE_CODECS.get(name)(N_HIST)
    hist, _, action, _ = windows(name)
    now = hist[:, -1]
    noise = np.random.default_rng(0).normal(0, 1, (len(now), codec.n_out)).astype(np.float32)
    out = codec.apply(now, noise, action)
    assert np.array_equal(out[:, codec.STATIC], now[:, codec.STATIC])
    assert np.array_equal(out[:, 3], (action[:, 3] >= 0.5).astype(np.float32))
    sink = codec.apply(now, np.full_like(noise, -50.0), action)  # every point pushed 50 cm down
    assert np.all(codec._points(sink)[..., 2] >= 0.0), "the table is solid"
    still = codec.apply(now, np.zeros_like(noise), action)
    step = np.linalg.norm(still[:, 0:3] - now[:, 0:3], axis=-1)
    want = np.minimum(np.linalg.norm(action[:, 0:3] - now[:, 0:3], axis=-1), codec.STEP)
    np.testing.assert_allclose(step, want, atol=1e-6)
    held = codec.held(now, action)  # (B, P)
    assert set(np.unique(held)) <= {0.0, 1.0} and np.all(held.sum(-1) <= 1)
    assert held.any(), "the trajectory holds something at some step"
    moved = codec._points(still) - codec._points(now)
    np.testing.assert_allclose(moved, held[..., None] * (still[:, None, 0:3] - now[:, None, 0:3]), atol=1e-7)
