"""The Route Rope and Fold Towel experts: succeed, deterministic at skill 1, noisier below, act on any observation."""

import numpy as np
import pytest
from task_scenes import failure_scene, success_scene

from hiwm.errors import HiwmError
from hiwm.tasks import EXPERTS, make_expert, make_task, task_class
from hiwm.tasks.rope_expert import RopeExpert
from hiwm.tasks.towel_expert import TowelExpert

DEFORMABLES = ["rope-route", "towel-fold"]


def _run(expert, env, obs, steps):
    actions = []
    for _ in range(steps):
        actions.append(expert.act(obs))
        obs, _, terminated, _, info = env.step(actions[-1])
        if terminated:
            break
    return np.array(actions), obs, info


def _in_box(actions, spec):
    return np.all(np.isfinite(actions)) and np.all((actions >= spec.action_low) & (actions <= spec.action_high))


def test_registered_and_validate_skill():
    assert EXPERTS.get("rope-route") is RopeExpert and EXPERTS.get("towel-fold") is TowelExpert
    with pytest.raises(HiwmError):
        TowelExpert(skill=-0.1)


@pytest.mark.parametrize("name", DEFORMABLES)
def test_succeeds_on_training_seeds(name):
    for seed in (17, 2024, 5555):
        env = make_task(name, images=False)
        obs, _ = env.reset(seed=seed)
        actions, _, info = _run(make_expert(name, seed=seed), env, obs, 120)
        assert info["is_success"], f"{name} seed {seed}"
        assert _in_box(actions, env.spec_)


@pytest.mark.parametrize("name", DEFORMABLES)
def test_deterministic_at_full_skill_and_noisier_below(name):
    runs = []
    for skill, expert_seed in ((1.0, 0), (1.0, 1), (0.4, 0)):
        env = make_task(name, images=False)
        obs, _ = env.reset(seed=3)
        runs.append(_run(make_expert(name, skill=skill, seed=expert_seed), env, obs, 15)[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("name", DEFORMABLES)
def test_a_fresh_expert_takes_over_mid_task(name):
    """No hidden plan: a new expert handed the observation halfway finishes the job."""
    env = make_task(name, images=False)
    obs, _ = env.reset(seed=31)
    _, obs, info = _run(make_expert(name, skill=0.5, seed=2), env, obs, 12)
    assert env.held() >= 0 and not info["is_success"], "handed over while holding, before the end"
    actions, _, info = _run(make_expert(name, seed=9), env, obs, 120)
    assert info["is_success"] and _in_box(actions, env.spec_)


@pytest.mark.parametrize("name", DEFORMABLES)
def test_acts_on_a_bare_observation(name):
    """Inside a world model it only sees predicted observations, including odd ones."""
    task = task_class(name)
    expert = make_expert(name)
    odd = failure_scene(name).copy()
    odd[:3] = [0.3, -0.3, 0.3]  # the gripper outside the box
    for scene in (success_scene(name), failure_scene(name), odd):
        a = expert.act(task.observe(scene))
        assert a.shape == (4,) and _in_box(a[None], task.spec_)
