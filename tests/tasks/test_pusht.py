"""Push-T simulator specifics: exact snapshots under contact, gym-pusht's start states, coverage.

The checks every task gets (shapes, bad input, snapshots from any state, hand-made success scenes) are
in test_registry.py.
"""

import numpy as np
import pytest

from hiwm.tasks import make_task
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.tasks.pusht import GOAL_POSE, PushTTask, coverage


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


def test_coverage_is_graded():
    assert coverage(GOAL_POSE) == pytest.approx(1.0)
    assert PushTTask.progress(np.array([100.0, 100.0, 400.0, 400.0, 0.0])) == 0.0
    slightly_off = np.array([100.0, 100.0, GOAL_POSE[0] + 3, GOAL_POSE[1], GOAL_POSE[2]])
    assert 0.85 < PushTTask.progress(slightly_off) < 1.0
