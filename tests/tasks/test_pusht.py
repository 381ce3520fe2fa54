"""Push-T simulator specifics: exact snapshots under contact, gym-pusht's start states, coverage.

The checks every task gets (shapes, bad input, snapshots from any state, hand-made success scenes) are
in test_registry.py.
"""

import numpy as np
import pytest
import shapely

from hiwm.tasks import make_task
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.tasks.pusht import GOAL_POSE, T_OUTLINE, PushTTask, coverage, transform


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


def test_closeness_keeps_changing_where_coverage_is_flat():
    far, farther = (np.array([100.0, 100.0, x, 380.0, 0.0]) for x in (380.0, 400.0))
    assert PushTTask.progress(far) == PushTTask.progress(farther) == 0.0
    assert 0.0 < PushTTask.closeness(farther) < PushTTask.closeness(far) < 1.0
    assert PushTTask.closeness(np.array([0.0, 0.0, *GOAL_POSE])) == pytest.approx(1.0)


def test_at_risk_is_the_t_against_a_wall():
    """wall_gap is the outline's least distance to the walls' inner faces (5 and 506 px), as shapely measures it."""
    from hiwm.tasks.pusht import RISK_WALL_PX, wall_gap

    rng = np.random.default_rng(1)
    poses = rng.uniform([0, 0, -np.pi], [512, 512, np.pi], (50, 3))
    inner = shapely.box(5, 5, 506, 506).exterior
    for pose, gap in zip(poses, wall_gap(poses)):
        outline = shapely.Polygon(transform(T_OUTLINE, pose))
        if shapely.box(5, 5, 506, 506).contains(outline):
            assert gap == pytest.approx(outline.distance(inner))
        else:
            assert gap < 0
    assert not PushTTask.at_risk(np.array([0.0, 0.0, *GOAL_POSE]))
    beside = np.array([0.0, 0.0, 256.0, 5.0 + RISK_WALL_PX / 2, 0.0])  # the top bar's edge along the wall at y=5
    assert PushTTask.at_risk(beside)


def test_coverage_equals_the_geos_polygon_overlap():
    """The exact clipping gives gym-pusht's measure (the goal T's area covered, via shapely/GEOS) to rounding:
    start poses, poses near and at the goal, touching and turned poses, and random ones."""
    rng = np.random.default_rng(0)
    poses = np.concatenate([
        np.stack([PushTTask.initial_scene(s)[2:5] for s in range(100)]),
        GOAL_POSE + rng.normal(0, [10, 10, 0.2], (300, 3)), GOAL_POSE + rng.normal(0, [0.5, 0.5, 0.005], (100, 3)),
        GOAL_POSE + np.array([[0, 0, 0], [30, 0, 0], [0, 30, 0], [120, 0, 0], [0, 0, np.pi], [0, 0, np.pi / 2]]),
        rng.uniform([0, 0, -np.pi], [512, 512, np.pi], (300, 3))])
    goal = shapely.Polygon(transform(T_OUTLINE, GOAL_POSE))
    for pose in poses:
        ref = goal.intersection(shapely.Polygon(transform(T_OUTLINE, pose))).area / goal.area
        assert coverage(pose) == pytest.approx(ref, abs=1e-12)


def test_judge_batch_equals_judge_per_scene():
    scenes = np.stack([PushTTask.initial_scene(s) for s in range(5)] + [np.array([1.0, 2.0, *GOAL_POSE])])
    progress, ok, ok95 = PushTTask.judge_batch(scenes)
    assert progress.dtype == np.float64 and ok.dtype == bool and ok95.dtype == bool and ok[-1] and ok95[-1]
    for i, scene in enumerate(scenes):
        assert (progress[i], ok[i], ok95[i]) == PushTTask.judge(scene)
