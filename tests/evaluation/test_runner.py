"""One runner for simulator and world model: same outputs, recorded columns line up."""

import numpy as np
import pytest

from hiwm.evaluation.metrics import wilson_interval
from hiwm.evaluation.runner import rollout
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
