"""The failure queue's policy-disagreement probe works for low-dim and image policies alike."""

import math

from hiwm.session.engine import Session, SessionConfig
from hiwm.studio.failures import sample_spread


def test_sample_spread_for_state_and_image_policies(policy, image_policy, world_model, obs0):
    for p in (policy, image_policy):
        s = Session.start(p, world_model, obs0, SessionConfig(max_steps=20, seed=0))
        s.resume()
        nodes = [s.step() for _ in range(3)]
        spreads = [sample_spread(p, world_model.task, s.tree, n.id, seed=1) for n in (s.tree.get(0), *nodes)]
        assert all(math.isfinite(x) and x >= 0 for x in spreads)
        assert sample_spread(p, world_model.task, s.tree, nodes[-1].id, seed=1) == spreads[-1]  # fixed generator
        assert max(spreads) > 0  # two samples from an untrained policy differ


def test_risk_is_flagged_where_a_branch_enters_it_from_a_safe_scene():
    from types import SimpleNamespace

    from hiwm.studio.failures import _entering_risk

    flags = [(True, 0), (False, 0), (False, 1), (True, 1), (True, 1)]
    path = [SimpleNamespace(branch_id=b, id=i) for i, (_, b) in enumerate(flags)]
    risky = {i: r for i, (r, _) in enumerate(flags)}
    assert _entering_risk(path, 1, risky).id == 3
    assert _entering_risk(path[:2], 0, risky) is None  # at risk from the start is not an entry
    assert _entering_risk(path, 0, risky) is None  # the entry is on branch 1's own steps
