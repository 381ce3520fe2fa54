"""Play behaviour on every registered task: actions in the box, and a gripper that really takes hold."""

import numpy as np
import pytest

from hiwm.data.play import PlayActor
from hiwm.tasks import TASKS, make_expert, make_task


@pytest.mark.parametrize("name", TASKS.names())
def test_play_stays_in_the_box_and_grasps(name):
    env = make_task(name, images=False)
    spec = env.spec_
    obs, _ = env.reset(seed=10001)
    play = PlayActor(spec, make_expert(name, seed=10001), seed=10001)
    actions, held, behaviours = [], [], set()
    for _ in range(150):
        actions.append(play.act(obs, env.scene()))
        behaviours.add(play._behaviour)
        obs = env.step(actions[-1])[0]
        held.append(getattr(env, "held", lambda: -1)())
    actions = np.array(actions)
    assert actions.shape == (150, spec.action_dim) and np.all(np.isfinite(actions))
    assert np.all((actions >= spec.action_low) & (actions <= spec.action_high))
    assert len(behaviours) >= 3
    if env.gripper:
        assert max(held) >= 0, "play takes hold of the object"
        assert np.ptp(actions[:, 2]) > 0.03 and set(np.unique(actions[:, 3])) == {0.0, 1.0}
