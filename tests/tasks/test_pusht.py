"""Push-T simulator: registry, shapes, exact snapshots, scene functions, bad input."""

import numpy as np
import pytest

from hiwm.errors import HiwmError
from hiwm.tasks import TASKS, make_task, task_class
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.tasks.pusht import GOAL_POSE, PushTTask, coverage


@pytest.mark.parametrize("name", TASKS.names())
def test_registered_task_builds_resets_steps(name):
    env = make_task(name)
    spec = env.spec_
    obs, info = env.reset(seed=3)
    assert obs[STATE_KEY].shape == (spec.agent_dim,) and obs[ENV_KEY].shape == (spec.env_dim,)
    assert obs[IMAGE_KEY].shape == (spec.image_size, spec.image_size, 3) and obs[IMAGE_KEY].dtype == np.uint8
    action = (np.asarray(spec.action_low) + np.asarray(spec.action_high)) / 2
    before = action.copy()
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(action)
    assert np.array_equal(action, before), "step must not modify its input"
    assert all(np.all(np.isfinite(v)) for v in obs.values())
    assert 0.0 <= info["progress"] <= 1.0
    assert np.allclose(env.scene_of(obs), env.scene(), atol=1e-9)


def test_replay_from_snapshot_is_exact():
    env = make_task("pusht", images=False)
    env.reset(seed=5)
    rng = np.random.default_rng(1)
    snaps, actions, scenes = [], [], []
    for _ in range(120):  # push into the block all the time: contacts are what breaks naive restores
        snaps.append(env.get_state())
        a = np.clip(env.scene()[2:4] + rng.normal(0, 5, 2), 0, 512)
        actions.append(a)
        env.step(a)
        scenes.append(env.scene())
    for k in (0, 40, 100):
        env.set_state(snaps[k])
        replay = [env.step(a)[0] and env.scene() for a in actions[k:]]
        assert np.array_equal(np.array(replay), np.array(scenes[k:]))


def test_initial_state_matches_gym_pusht():
    from gym_pusht.envs.pusht import PushTEnv

    g = PushTEnv(obs_type="environment_state_agent_pos")
    for seed in (0, 100000):
        gobs, _ = g.reset(seed=seed)
        obs, _ = make_task("pusht", images=False).reset(seed=seed)
        assert np.allclose(obs[ENV_KEY], gobs["environment_state"]) and np.allclose(obs[STATE_KEY], gobs["agent_pos"])


def test_success_test_on_hand_made_states():
    at_goal = np.array([100.0, 100.0, *GOAL_POSE])
    assert PushTTask.is_success(at_goal) and PushTTask.is_terminal_success(at_goal)
    assert coverage(GOAL_POSE) == pytest.approx(1.0)
    far = np.array([100.0, 100.0, 400.0, 400.0, 0.0])
    assert not PushTTask.is_success(far) and PushTTask.progress(far) == 0.0
    slightly_off = np.array([100.0, 100.0, GOAL_POSE[0] + 3, GOAL_POSE[1], GOAL_POSE[2]])
    assert 0.85 < PushTTask.progress(slightly_off) < 1.0


def test_render_any_scene():
    img = PushTTask.render_scene(np.array([50.0, 60.0, 300.0, 200.0, 1.0]), 128)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8 and img.min() < 255


@pytest.mark.parametrize("bad", [[np.nan, 1.0], [1.0, 2.0, 3.0], [[1.0, 2.0]]])
def test_bad_actions_raise_one_line_errors(bad):
    env = make_task("pusht", images=False)
    env.reset(seed=0)
    before = env.get_state()
    with pytest.raises(HiwmError) as e:
        env.step(bad)
    assert "\n" not in str(e.value)
    assert np.array_equal(env.get_state(), before), "a rejected action changes nothing"


def test_out_of_range_action_is_clipped_with_warning():
    env = make_task("pusht", images=False)
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="clipped"):
        env.step([600.0, -5.0])


def test_unknown_task_name():
    with pytest.raises(HiwmError, match="unknown task 'nope'.*pusht"):
        task_class("nope")


def test_bad_snapshot_is_rejected():
    env = make_task("pusht", images=False)
    with pytest.raises(HiwmError):
        env.set_state(np.zeros(3))
