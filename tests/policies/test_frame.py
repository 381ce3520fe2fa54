"""Task frames (policies/frame.py): a framed policy sees a turned and shifted layout as the same one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hiwm.data import EpisodeWindows
from hiwm.errors import HiwmError
from hiwm.policies import load_policy, make_policy
from hiwm.policies.frame import TaskFrame, fit_frame_stats
from hiwm.tasks.rope import RopeRouteTask

STATE, ENV = "observation.state", "observation.environment_state"
DIMS = {STATE: 4, ENV: 83}


def turned(scene: np.ndarray, angle: float, shift: tuple[float, float]) -> np.ndarray:
    """scene (87,) with every xy of the rope task's frame list turned by ``angle`` about 0, then shifted."""
    out = scene.copy()
    c, s = math.cos(angle), math.sin(angle)
    for i in RopeRouteTask.policy_frame_xy[0]:
        x, y = scene[i], scene[i + 1]
        out[i], out[i + 1] = c * x - s * y + shift[0], s * x + c * y + shift[1]
    return out


def framed_policy(seed: int = 0):
    policy = make_policy("diffusion", seed=seed, action_dim=4, feature_dims=DIMS, frame="rope-route",
                         down_dims=[16, 32], n_groups=4, num_inference_steps=3)
    scenes = np.stack([RopeRouteTask.initial_scene(s) for s in range(6)]).astype(np.float32)
    episode = {STATE: scenes[:, :4], ENV: scenes[:, 4:], "action": scenes[:, :4].copy()}
    windows = EpisodeWindows([episode], [STATE, ENV], n_obs_steps=2, horizon=16)
    policy.set_stats({k: {"min": np.full(d, -1.0), "max": np.full(d, 1.0), "mean": np.zeros(d), "std": np.ones(d)}
                      for k, d in {**DIMS, "action": 4}.items()})
    fit_frame_stats(policy, windows)
    return policy


def test_frame_observation_is_the_same_for_a_turned_and_shifted_layout():
    scene = torch.as_tensor(RopeRouteTask.initial_scene(3), dtype=torch.float64)
    other = torch.as_tensor(turned(scene.numpy(), 0.7, (0.05, -0.02)))
    tf = TaskFrame("rope-route", 4)
    a = tf.observation(scene[:4], scene[4:], tf.of(scene[:4], scene[4:]))
    b = tf.observation(other[:4], other[4:], tf.of(other[:4], other[4:]))
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)
    # clip 1 at the origin, clip 2 on +x
    env = a[1]
    c1, c2 = (env[0:2] + env[2:4]) / 2, (env[4:6] + env[6:8]) / 2
    torch.testing.assert_close(c1, torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0)
    assert abs(float(c2[1])) < 1e-12 and float(c2[0]) > 0


def test_actions_go_to_the_frame_and_back_exactly():
    scene = torch.as_tensor(RopeRouteTask.initial_scene(5), dtype=torch.float64)
    tf = TaskFrame("rope-route", 4)
    frame = tf.of(scene[:4], scene[4:])
    action = torch.tensor([0.1, -0.2, 0.03, 1.0], dtype=torch.float64)
    moved = tf.action_to_frame(action, frame)
    assert moved[2:].tolist() == action[2:].tolist()  # height and grasp are not turned
    torch.testing.assert_close(tf.action_to_world(moved, frame), action)


def test_a_framed_policy_turns_its_actions_with_the_layout():
    policy = framed_policy()
    scene = RopeRouteTask.initial_scene(2).astype(np.float32)
    other = turned(scene.astype(np.float64), -1.1, (0.03, 0.04)).astype(np.float32)
    act = {}
    for name, s in (("a", scene), ("b", other)):
        obs = {STATE: s[None, :4], ENV: s[None, 4:]}
        action, _ = policy.act(policy.initial_state(1), obs, generator=torch.Generator().manual_seed(0))
        act[name] = action[0].double().numpy()
    want = turned(np.concatenate([act["a"], np.zeros(83)]), -1.1, (0.03, 0.04))[:4]
    np.testing.assert_allclose(act["b"], want, atol=2e-5)


def test_the_frame_survives_save_and_load(tmp_path):
    policy = framed_policy()
    policy.save(tmp_path / "p")
    loaded = load_policy(tmp_path / "p")
    assert loaded.config.frame == "rope-route" and loaded.task_frame is not None
    s = RopeRouteTask.initial_scene(4).astype(np.float32)
    obs = {STATE: s[None, :4], ENV: s[None, 4:]}
    a, _ = policy.act(policy.initial_state(1), obs, generator=torch.Generator().manual_seed(1))
    b, _ = loaded.act(loaded.initial_state(1), obs, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)


def test_frame_needs_a_task_that_has_one_and_both_lowdim_inputs():
    with pytest.raises(HiwmError, match="no policy frame"):
        make_policy("diffusion", action_dim=2, feature_dims={STATE: 2, ENV: 16}, frame="pusht")
    with pytest.raises(HiwmError, match="needs both"):
        make_policy("diffusion", action_dim=4, feature_dims=DIMS, frame="rope-route", input_features=[STATE])
