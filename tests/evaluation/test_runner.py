"""One runner for simulator and world model: same outputs, recorded columns line up."""

import numpy as np
import pytest
import torch

from hiwm.evaluation.metrics import wilson_interval
from hiwm.evaluation.runner import rollout
from hiwm.tasks.base import IMAGE_KEY
from hiwm.tasks.pusht import PushTTask
from hiwm.tasks.vector import SimVecEnv
from hiwm.world_models import WorldModelVecEnv


@pytest.mark.parametrize("kind", ["sim", "world_model"])
def test_rollout_records_aligned_columns(kind, policy, world_model):
    env = SimVecEnv("pusht") if kind == "sim" else WorldModelVecEnv(world_model)
    res = rollout(env, policy, [100000, 100001], max_steps=6, seed=0, record=True, progress=False)
    assert res.success.shape == (2,) and np.all(res.steps == 6)
    for ep in res.episodes:
        t = len(ep["action"])
        assert t == 6 and len(ep["scene"]) == t + 1
        assert all(len(ep[k]) == t for k in ("obs_state", "obs_env", "progress", "success", "uncertainty"))


def test_wilson_interval_brackets_the_rate():
    lo, hi = wilson_interval(23, 100)
    assert lo < 0.23 < hi and round(lo, 2) == 0.16 and round(hi, 2) == 0.32
    assert wilson_interval(0, 10)[0] == 0.0


@pytest.mark.parametrize("kind", ["sim", "world_model"])
def test_images_are_rendered_only_for_policies_that_take_them(kind, policy, image_policy, world_model):
    """The runner asks the env for observation.image exactly when the policy's input features include it."""
    for p, wants in ((policy, False), (image_policy, True)):
        env = SimVecEnv("pusht") if kind == "sim" else WorldModelVecEnv(world_model)
        seen = []
        act = p.act
        p.act = lambda state, obs, generator=None, seen=seen, act=act: seen.append(dict(obs)) or act(state, obs, generator)
        res = rollout(env, p, [100000, 100001], max_steps=5, seed=0, progress=False)
        assert env.images is wants and len(seen) == 5 and np.all(res.steps == 5)
        assert all((IMAGE_KEY in o) is wants for o in seen)
        if wants:
            first = seen[0][IMAGE_KEY]
            assert first.dtype == torch.uint8 and first.shape == (2, 96, 96, 3)
            # the first frame is the camera's view of the seeded initial state, in simulator and model alike
            expected = PushTTask.render_scene(PushTTask.initial_scene(100000), 96)
            np.testing.assert_array_equal(first[0].numpy(), expected)
            assert not torch.equal(seen[0][IMAGE_KEY], seen[-1][IMAGE_KEY])  # frames follow the rollout
