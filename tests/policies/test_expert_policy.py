"""The scripted expert as a policy no one trained (evaluation.outsiders): it runs through the same rollout as a
trained policy, in the simulator and in a world model, on every task."""

from __future__ import annotations

import numpy as np
import pytest

from hiwm.errors import HiwmError
from hiwm.evaluation.runner import rollout
from hiwm.policies.expert import OUTSIDERS, ExpertPolicy
from hiwm.tasks import TASKS, STATE_KEY
from hiwm.tasks.vector import SimVecEnv


@pytest.mark.parametrize("task", TASKS.names())
def test_a_late_expert_holds_still_then_sends_what_it_decided_steps_ago(task):
    env = SimVecEnv(task)
    obs = env.reset([9000, 9001])
    late, now = ExpertPolicy(task, delay=3, seed=1), ExpertPolicy(task, delay=0, seed=1)
    s_late, s_now = late.initial_state(2), now.initial_state(2)
    sent, decided = [], []
    for _ in range(5):
        a, s_late = late.act(s_late, late.input_tensors(obs))
        b, s_now = now.act(s_now, now.input_tensors(obs))
        sent.append(a.numpy())
        decided.append(b.numpy())
        obs, _ = env.step(a.numpy().astype(np.float64))
    rest = sent[0]
    assert np.allclose(sent[1], rest) and np.allclose(sent[2], rest), "held still while the first decision travels"
    assert np.allclose(sent[3], decided[0], atol=1e-5) and np.allclose(sent[4], decided[1], atol=1e-5)
    assert np.allclose(rest[:, :2], env.reset([9000, 9001])[STATE_KEY][:, :2], atol=1e-5)


@pytest.mark.parametrize("name", list(OUTSIDERS))
def test_every_outsider_runs_a_whole_rollout(name):
    res = rollout(SimVecEnv("pusht"), ExpertPolicy.outsider("pusht", name), [9000, 9001], 20, progress=False)
    assert res.steps.tolist() == [20, 20] and res.success.shape == (2,)


def test_an_unknown_outsider_or_a_negative_delay_is_one_line():
    with pytest.raises(HiwmError, match="unknown outsider policy 'ghost'"):
        ExpertPolicy.outsider("pusht", "ghost")
    with pytest.raises(HiwmError, match="delay"):
        ExpertPolicy("pusht", delay=-1)
