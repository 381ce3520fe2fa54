"""Every registered task: build, reset, step, shapes, no NaNs, exact snapshots, scene functions, bad input."""

import warnings

import numpy as np
import pytest
from task_scenes import SCENES, failure_scene, success_scene

from hiwm.errors import HiwmError
from hiwm.tasks import EXPERTS, TASKS, make_expert, make_task, task_class
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY

NAMES = TASKS.names()


def test_every_task_has_an_expert_and_hand_made_scenes():
    assert set(EXPERTS.names()) == set(NAMES)
    assert set(SCENES) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_registered_task_builds_resets_steps(name):
    env = make_task(name)
    spec = env.spec_
    obs, info = env.reset(seed=3)
    assert obs[STATE_KEY].shape == (spec.agent_dim,) and obs[ENV_KEY].shape == (spec.env_dim,)
    assert obs[IMAGE_KEY].shape == (spec.image_size, spec.image_size, 3) and obs[IMAGE_KEY].dtype == np.uint8
    assert env.scene().shape == (spec.scene_dim,)
    action = (np.asarray(spec.action_low) + np.asarray(spec.action_high)) / 2
    before = action.copy()
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(action)
    assert np.array_equal(action, before), "step must not modify its input"
    assert all(np.all(np.isfinite(v)) for v in obs.values())
    assert 0.0 <= info["progress"] <= 1.0 and reward == info["progress"]
    assert np.allclose(env.scene_of(obs), env.scene(), atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_start_states_follow_the_seed(name):
    task = task_class(name)
    env = make_task(name, images=False)
    a, _ = env.reset(seed=11)
    assert np.allclose(env.scene(), task.initial_scene(11), atol=1e-9)
    b, _ = make_task(name, images=False).reset(seed=11)
    c, _ = env.reset(seed=12)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.allclose(a[ENV_KEY], c[ENV_KEY])
    with pytest.raises(HiwmError):
        task.initial_scene(-1)


@pytest.mark.parametrize("name", NAMES)
def test_replay_from_snapshot_is_exact(name):
    """Expert actions (contacts, grasps) for 30 steps; restoring any snapshot replays them bit for bit."""
    env = make_task(name, images=False)
    obs, _ = env.reset(seed=5)
    expert = make_expert(name, skill=0.8, seed=5)
    snaps, actions, envs = [], [], []
    for _ in range(30):
        snaps.append(env.get_state())
        actions.append(expert.act(obs))
        obs = env.step(actions[-1])[0]
        envs.append(obs[ENV_KEY])
    for k in (0, 17):
        fresh = make_task(name, images=False)
        fresh.set_state(snaps[k])
        replay = [fresh.step(a)[0][ENV_KEY] for a in actions[k:]]
        assert np.array_equal(np.array(replay), np.array(envs[k:]))


@pytest.mark.parametrize("name", NAMES)
def test_success_test_on_hand_made_scenes(name):
    task = task_class(name)
    ok, bad = success_scene(name), failure_scene(name)
    assert ok.shape == bad.shape == (task.spec_.scene_dim,)
    p, success, terminal = task.judge(ok)
    assert success and terminal and p == pytest.approx(1.0) and task.is_success(ok) and task.progress(ok) == p
    p, success, terminal = task.judge(bad)
    assert not success and not terminal and 0.0 <= p < 1.0 and not task.is_success(bad)


@pytest.mark.parametrize("name", NAMES)
def test_scene_functions_on_any_scene(name):
    task = task_class(name)
    scenes = np.stack([success_scene(name), failure_scene(name), task.initial_scene(7)])
    obs = task.observe_lowdim(scenes)  # leading batch dims
    assert obs[STATE_KEY].shape == (3, task.spec_.agent_dim) and obs[ENV_KEY].shape == (3, task.spec_.env_dim)
    assert np.allclose(task.scene_of(obs), scenes, atol=1e-9)
    imgs = [task.render_scene(s, 64) for s in scenes]
    assert all(i.shape == (64, 64, 3) and i.dtype == np.uint8 for i in imgs)
    assert not np.array_equal(imgs[0], imgs[1]) and not np.array_equal(imgs[1], imgs[2])
    assert task.observe(scenes[0], images=True)[IMAGE_KEY].shape == (task.spec_.image_size,) * 2 + (3,)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", ["nan", "short", "batch"])
def test_bad_actions_raise_one_line_errors(name, bad):
    env = make_task(name, images=False)
    env.reset(seed=0)
    mid = list((np.asarray(env.spec_.action_low) + np.asarray(env.spec_.action_high)) / 2)
    a = {"nan": [np.nan] * len(mid), "short": mid[:-1], "batch": [mid]}[bad]
    before = env.get_state()
    with pytest.raises(HiwmError) as e:
        env.step(a)
    assert "\n" not in str(e.value)
    assert np.array_equal(env.get_state(), before), "a rejected action changes nothing"


@pytest.mark.parametrize("name", NAMES)
def test_actions_at_and_beyond_the_box_limits(name):
    """Out-of-range actions are clipped with a warning; slamming between the box corners stays finite."""
    env = make_task(name, images=False)
    env.reset(seed=1)
    low, high = np.asarray(env.spec_.action_low), np.asarray(env.spec_.action_high)
    with pytest.warns(UserWarning, match="clipped"):
        env.step(high + 1.0)
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in-box actions never warn
        for _ in range(20):
            obs, *_ = env.step(np.where(rng.random(len(low)) < 0.5, low, high))
    assert all(np.all(np.isfinite(v)) for v in obs.values())


@pytest.mark.parametrize("name", NAMES)
def test_bad_snapshot_is_rejected(name):
    env = make_task(name, images=False)
    state = env.get_state()
    for bad in (np.zeros(3), np.full_like(state, np.nan)):
        with pytest.raises(HiwmError) as e:
            env.set_state(bad)
        assert "\n" not in str(e.value)


def test_unknown_task_name():
    with pytest.raises(HiwmError, match="unknown task 'nope'.*pusht"):
        task_class("nope")
