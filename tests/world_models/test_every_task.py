"""The ensemble world model on every task: pure batched steps, numpy == torch, save/load, the env
wrappers (frames for people drawn from the predicted scene), the judge, and training."""

import numpy as np
import pytest
import torch

from hiwm.tasks import TASKS, task_class
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.world_models import WorldModelEnv, WorldModelVecEnv, load_world_model
from wm_fixtures import tiny_world_model, trajectory

TASK_NAMES = TASKS.names()


def start(task: str, n: int = 3):
    scenes, actions = trajectory(task)
    return scenes[:n], actions[:n]


@pytest.mark.parametrize("task", TASK_NAMES)
def test_step_is_pure_batched_and_finite(task):
    wm, spec = tiny_world_model(task), task_class(task).spec_
    scenes, actions = start(task)
    state = wm.initial_state(task_class(task).observe_lowdim(scenes))
    copy = (state.scenes.clone(), state.actions.clone())
    s1, obs, info = wm.step(state, actions)
    assert torch.equal(state.scenes, copy[0]) and torch.equal(state.actions, copy[1]), "input state unchanged"
    assert np.array_equal(info["scene"], wm.step(state, actions)[2]["scene"])
    assert obs[STATE_KEY].shape == (3, spec.agent_dim) and obs[ENV_KEY].shape == (3, spec.env_dim)
    assert info["scene"].shape == (3, spec.scene_dim) and np.all(np.isfinite(info["scene"]))
    assert info["uncertainty"].shape == (3,) and np.all(info["uncertainty"] >= 0)
    assert info["is_success"].dtype == bool and np.all((0 <= info["progress"]) & (info["progress"] <= 1))
    single = wm.step(state.index(1), actions[1:2])[2]["scene"]
    np.testing.assert_allclose(single, info["scene"][1:2], atol=1e-5)
    assert s1.t.tolist() == [1, 1, 1]


@pytest.mark.parametrize("task", TASK_NAMES)
def test_numpy_fast_path_matches_torch_path(task):
    wm = tiny_world_model(task)
    scenes, actions = start(task)
    state = wm.initial_state(task_class(task).observe_lowdim(scenes))
    fast = wm.step(state, actions)[2]
    wm.train()
    slow = wm.step(state, actions)[2]
    wm.eval()
    scale = np.abs(scenes).max()
    np.testing.assert_allclose(fast["scene"], slow["scene"], atol=1e-5 * scale)
    np.testing.assert_allclose(fast["uncertainty"], slow["uncertainty"], rtol=1e-3, atol=1e-6 * scale)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_save_load_gives_identical_predictions(task, tmp_path):
    wm = tiny_world_model(task)
    wm.save(tmp_path / "wm")
    loaded = load_world_model(tmp_path / "wm")
    scenes, actions = start(task, 1)
    state = wm.initial_state(task_class(task).observe_lowdim(scenes))
    assert loaded.config.task == task and loaded.checkpoint_id() == wm.checkpoint_id()
    assert np.array_equal(wm.step(state, actions)[2]["scene"], loaded.step(state, actions)[2]["scene"])


@pytest.mark.parametrize("task", TASK_NAMES)
def test_env_wrappers_draw_frames_from_the_prediction(task):
    wm = tiny_world_model(task)
    cls = task_class(task)
    env = WorldModelEnv(wm)
    obs, _ = env.reset(seed=100000)
    assert np.array_equal(obs[IMAGE_KEY], cls.observe(cls.initial_scene(100000), images=True)[IMAGE_KEY])
    _, actions = start(task, 1)
    obs, reward, terminated, truncated, info = env.step(actions[0])
    frame = env.render()
    assert frame.shape == (cls.spec_.image_size,) * 2 + (3,) and frame.dtype == np.uint8
    assert np.array_equal(frame, cls.render_scene(env.vec.scenes()[0]))
    assert np.array_equal(obs[IMAGE_KEY], frame) and 0 <= reward <= 1 and info["uncertainty"] >= 0
    vec = WorldModelVecEnv(wm)
    vec.reset([1, 2])
    o, info = vec.step(np.repeat(actions, 2, 0))
    assert o[ENV_KEY].shape == (2, cls.spec_.env_dim) and info["terminal_success"].shape == (2,)


@pytest.mark.parametrize("task", ["rope-route", "towel-fold"])
def test_training_on_a_deformable_lowers_the_loss(task):
    from hiwm.training import TrainConfig
    from hiwm.world_models import EnsembleConfig, EnsembleWorldModel

    episodes = [trajectory(task, steps=16, seed=s) for s in (1, 2)]
    episodes = [(sc[:-1], ac) for sc, ac in episodes]  # frames: the scene before each action
    cfg = EnsembleConfig(task=task, members=2, hidden=32, layers=2, rollout_steps=3)
    model, summary = EnsembleWorldModel.fit_episodes(cfg, episodes, TrainConfig(
        steps=60, batch_size=16, lr=3e-3, warmup_steps=5, ema_decay=None, log_every=10), progress=False)
    losses = [loss for _, loss in summary["history"]]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("task", TASK_NAMES)
def test_wrong_shapes_are_one_line_errors(task):
    from hiwm.errors import HiwmError

    wm = tiny_world_model(task)
    scenes, actions = start(task, 2)
    state = wm.initial_state(task_class(task).observe_lowdim(scenes))
    with pytest.raises(HiwmError, match="actions must have shape") as e:
        wm.step(state, actions[:, :-1])
    assert "\n" not in str(e.value)
    with pytest.raises(HiwmError, match="actions must have shape"):
        wm.step(state, actions[:1])
    other = next(n for n in TASK_NAMES if task_class(n).spec_.scene_dim != task_class(task).spec_.scene_dim)
    with pytest.raises(HiwmError, match="must have shape"):
        wm.initial_state(task_class(other).observe_lowdim(trajectory(other)[0][:2]))
