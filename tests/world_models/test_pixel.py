"""The pixel world model: frames and the robot's own state in, frames out; the object's state is never read, and
what the judge, progress and the scripted operator see is the perception head's reading of the predicted frame."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from wm_fixtures import play_dataset, tiny_task_policy

from hiwm.errors import HiwmError
from hiwm.tasks import TASKS
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.training import TrainConfig
from hiwm.world_models import PixelConfig, PixelWorldModel

TINY = dict(widths=(8, 8, 8), latent_channels=4, members=2, dynamics_width=8, dilations=(1, 2), agent_hidden=16,
            perception_width=4, rollout_steps=2, perception_labels=50)


def _fit(task: str, root, steps: int = 8):
    ds = play_dataset(task, root, episodes=2, steps=12)
    tc = TrainConfig(steps=steps, batch_size=8, lr=1e-3, warmup_steps=1, ema_decay=None, log_every=steps, seed=0)
    return PixelWorldModel.fit(PixelConfig(task=task, **TINY), [ds], tc, progress=False)


@pytest.fixture(scope="module")
def pusht(tmp_path_factory):
    return _fit("pusht", tmp_path_factory.mktemp("pusht"))[0]


@pytest.mark.parametrize("task", TASKS.names())
def test_trains_and_steps_on_every_task_s_frames(task, tmp_path):
    model, summary = _fit(task, tmp_path, steps=4)
    assert set(summary["stages"]) == {"autoencoder", "dynamics", "decoder", "perception"}
    assert np.isfinite(summary["final_loss"]) and summary["frames"] == 24
    spec = model.task.spec_
    state = model.initial_state(model.observation_for_seed(100_000))
    state, obs, info = model.step(state, np.zeros((1, spec.action_dim)) + model.action_mean.numpy())
    assert obs[IMAGE_KEY].shape == (1, 96, 96, 3) and obs[IMAGE_KEY].dtype == np.uint8
    assert obs[STATE_KEY].shape == (1, spec.agent_dim) and obs[ENV_KEY].shape == (1, spec.env_dim)
    assert np.isfinite(obs[ENV_KEY]).all() and info["scene"].shape == (1, spec.scene_dim)
    assert info["uncertainty"].shape == (1,) and info["progress"].shape == (1,)


def test_the_object_state_is_never_read(pusht):
    obs = pusht.observation_for_seed(100_001)
    blind = {IMAGE_KEY: obs[IMAGE_KEY], STATE_KEY: obs[STATE_KEY], ENV_KEY: np.full_like(obs[ENV_KEY], np.nan)}
    a, b = pusht.initial_state(obs), pusht.initial_state(blind)
    action = np.array([[250.0, 250.0]])
    for _ in range(3):
        a, oa, _ = pusht.step(a, action)
        b, ob, _ = pusht.step(b, action)
    np.testing.assert_array_equal(oa[IMAGE_KEY], ob[IMAGE_KEY])
    np.testing.assert_array_equal(oa[ENV_KEY], ob[ENV_KEY])
    assert np.isfinite(ob[ENV_KEY]).all(), "the object's state comes from the frame, not from the input"


def test_the_judge_reads_the_perception_head(pusht, monkeypatch):
    """Whatever the head reads off the predicted frame is what the judge and progress see."""
    import torch

    state = pusht.initial_state(pusht.observation_for_seed(100_002))
    from hiwm.tasks.pusht import GOAL_POSE

    goal = pusht.task.observe_lowdim(np.array([[100.0, 100.0, *GOAL_POSE]]))[ENV_KEY]
    monkeypatch.setattr(pusht, "read", lambda frames: torch.as_tensor(goal, dtype=torch.float32).expand(len(frames), -1))
    _, obs, info = pusht.step(state, np.array([[100.0, 100.0]]))
    np.testing.assert_allclose(obs[ENV_KEY], goal, atol=1e-4)
    assert info["is_success"][0] and info["progress"][0] > 0.99


def test_frames_of_another_size_are_a_one_line_error(pusht):
    obs = pusht.observation_for_seed(100_000)
    with pytest.raises(HiwmError, match="96x96"):
        pusht.initial_state({**obs, IMAGE_KEY: np.zeros((64, 64, 3), np.uint8)})


def test_a_scripted_operator_session_completes_with_the_simulator_unusable(pusht, monkeypatch, tmp_path):
    """The operator and the judge see only the model's frames read by the perception head: with the simulator
    (gym-pusht, the task's env, its initial-state draw, the vectorised env) made unusable once the first camera
    frame is taken, a whole correction session still runs."""
    import hiwm.tasks
    import hiwm.tasks.vector
    from hiwm.session.campaign import run_campaign
    from hiwm.session.operators import OperatorConfig
    from hiwm.tasks.pusht import PushTTask

    spec = pusht.task.spec_
    dims = {STATE_KEY: spec.agent_dim, ENV_KEY: spec.env_dim, "action": spec.action_dim}
    policy = tiny_task_policy("pusht", {k: {"min": np.zeros(d), "max": np.full(d, 512.0), "mean": np.full(d, 256.0),
                                            "std": np.full(d, 100.0)} for k, d in dims.items()})
    first_frame = pusht.observation_for_seed(20_000)  # the robot's camera, before the session

    def no_simulator(*args, **kwargs):
        raise AssertionError("the simulator was used")

    for name in [m for m in sys.modules if m == "gym_pusht" or m.startswith("gym_pusht.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(hiwm.tasks, "make_task", no_simulator)
    monkeypatch.setattr(hiwm.tasks.vector, "SimVecEnv", no_simulator)
    for method in ("__init__", "step", "reset"):
        monkeypatch.setattr(PushTTask, method, no_simulator)
    monkeypatch.setattr(PushTTask, "initial_scene", classmethod(no_simulator))
    monkeypatch.setattr(pusht, "observation_for_seed", lambda seed: first_frame)
    cfg = OperatorConfig(horizon=3, rollback=2, branches=2, budget=6, disagree=0.0, patience=1, warmup=2)
    cost = run_campaign(policy, pusht, [20_000], tmp_path, cfg, progress=False, max_steps=12)
    assert cost["operator_steps"] == 6 and cost["robot_steps"] == 0 and cost["sessions"] == 1
    from hiwm.data import LeRobotDataset

    ep = LeRobotDataset(tmp_path / "corrections").episode(0)  # the frames the operator saw are exported
    assert ep[IMAGE_KEY].shape == (len(ep["action"]), 96, 96, 3) and ep[IMAGE_KEY].std() > 0
