"""The simulator behind the world-model interface: exact, so a session in it is a session "on the robot"."""

import numpy as np
import pytest

from hiwm.errors import HiwmError
from hiwm.session.campaign import run_campaign
from hiwm.session.operators import OperatorConfig
from hiwm.tasks import make_expert
from hiwm.tasks.pusht import PushTTask
from hiwm.world_models import SimulatorModel, WorldModelVecEnv
from hiwm.tasks.vector import SimVecEnv


def test_steps_match_the_simulator_exactly():
    model = SimulatorModel()
    env = PushTTask(images=False)
    obs_sim, _ = env.reset(seed=100)
    obs = model.observation_for_seed(100)
    state = model.initial_state(obs)
    expert = make_expert("pusht", skill=1.0, seed=0)
    for _ in range(40):
        a = expert.act(obs_sim)
        obs_sim, _, _, _, info_sim = env.step(a)
        state, obs, info = model.step(state, a[None])
        for k in obs_sim:
            np.testing.assert_array_equal(obs[k][0], obs_sim[k])
        assert info["progress"][0] == info_sim["progress"]
    assert model.steps_taken == 40


def test_rollback_restores_the_physics_bit_for_bit():
    model = SimulatorModel()
    state0 = model.initial_state(model.observation_for_seed(3))
    acts = np.random.default_rng(0).uniform(100, 400, (20, 1, 2))
    runs = []
    for _ in range(2):  # the same state value stepped twice: identical, whatever happened in between
        s, outs = state0, []
        for a in acts:
            s, obs, _ = model.step(s, a)
            outs.append(obs["observation.environment_state"])
        runs.append(np.concatenate(outs))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_batched_env_in_the_simulator_model_agrees_with_the_simulator():
    seeds = [100000, 100001, 100002]
    wm_env, sim_env = WorldModelVecEnv(SimulatorModel()), SimVecEnv("pusht")
    o1, o2 = wm_env.reset(seeds), sim_env.reset(seeds)
    acts = np.random.default_rng(1).uniform(50, 450, (15, 3, 2))
    for a in acts:
        (o1, i1), (o2, i2) = wm_env.step(a), sim_env.step(a)
    np.testing.assert_allclose(o1["observation.environment_state"], o2["observation.environment_state"], atol=1e-6)
    np.testing.assert_allclose(i1["progress"], i2["progress"], atol=1e-9)


def test_bad_actions_are_one_line_errors():
    model = SimulatorModel()
    state = model.initial_state(model.observation_for_seed(0))
    with pytest.raises(HiwmError, match="shape"):
        model.step(state, np.zeros((2, 2)))


def test_hg_dagger_campaign_counts_robot_steps(policy, tmp_path):
    model = SimulatorModel()
    cfg = OperatorConfig(horizon=3, rollback=0, branches=1, budget=9, disagree=0.0, patience=1, warmup=3)
    cost = run_campaign(policy, model, [30000, 30001], tmp_path, cfg, progress=False, max_steps=12)
    assert 0 < cost["operator_steps"] <= 9
    # every step, the policy's and the operator's, ran "on the robot", and each episode needed a reset
    assert cost["robot_steps"] == model.steps_taken >= 12 and cost["resets"] == cost["sessions"] == 2
