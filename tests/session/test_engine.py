"""Session engine: events, rollback/branch from cached values, persistence, export provenance."""

import numpy as np
import pytest
import torch

from hiwm.errors import HiwmError
from hiwm.session.engine import Session, SessionConfig
from hiwm.session.export import branch_frames, exportable_branches
from hiwm.session.machine import InvalidTransition, Phase


def _start(policy, world_model, obs0, tmp_path=None, max_steps=300):
    log = None if tmp_path is None else tmp_path / "s.jsonl"
    return Session.start(policy, world_model, obs0, SessionConfig(max_steps=max_steps, seed=1), log_path=log)


def test_policy_steps_and_operator_corrections_are_flagged(policy, world_model, obs0):
    s = _start(policy, world_model, obs0)
    assert s.phase == Phase.PAUSED
    s.resume()
    for _ in range(3):
        s.step()
    s.take_over()
    with pytest.raises(InvalidTransition):
        s.step()
    n = s.act([300.0, 200.0])
    assert n.source == "operator" and n.intervention and n.depth == 4
    s.hand_back()
    n = s.step()
    assert n.source == "policy" and not n.intervention
    assert s.operator_steps == 1


def test_rollback_returns_exactly_the_cached_state(policy, world_model, obs0):
    s = _start(policy, world_model, obs0)
    s.resume()
    nodes = [s.step() for _ in range(12)]
    target = nodes[4]
    got = s.roll_back(target.id)
    assert got is target, "rollback hands back the cached node itself"
    assert s.cursor == target.id and s.phase == Phase.PAUSED
    # stepping again from the same node with the same generator seed reproduces the original child
    s.resume()
    again = s.step()
    assert again.parent_id == target.id and again.branch_id != target.branch_id, "stepping inside the tree branches"
    assert torch.equal(target.wm_state.scenes, nodes[4].wm_state.scenes)


def test_branch_from_cached_failure_state_gives_several_continuations(policy, world_model, obs0):
    s = _start(policy, world_model, obs0)
    s.resume()
    for _ in range(6):
        s.step()
    fork = s.node.id
    leaves = []
    for k in range(3):
        s.roll_back(fork)
        b = s.branch()
        s.take_over()
        for _ in range(2):
            s.act([100.0 + 50 * k, 100.0])
        leaves.append(s.node)
        assert s.tree.branches[b.id].leaf == s.node.id
    assert len(s.tree.children[fork]) == 3
    assert len({leaf.id for leaf in leaves}) == 3
    assert not np.array_equal(leaves[0].wm_state.actions.numpy(), leaves[2].wm_state.actions.numpy())


def test_bad_events_change_nothing(policy, world_model, obs0):
    s = _start(policy, world_model, obs0)
    s.resume()
    s.step()
    before = (len(s.tree), s.cursor, s.phase)
    with pytest.raises(HiwmError):
        s.roll_back(999)
    with pytest.raises(InvalidTransition):
        s.act([1.0, 1.0])  # not correcting
    s.take_over()
    for bad in ([np.nan, 1.0], [1.0, 2.0, 3.0]):
        with pytest.raises(HiwmError) as e:
            s.act(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(HiwmError):
        s.mark(0, outcome="great")
    assert (len(s.tree), s.cursor) == before[:2]


def test_branch_ends_at_step_limit_with_outcome(policy, world_model, obs0):
    s = _start(policy, world_model, obs0, max_steps=5)
    s.resume()
    while s.phase == Phase.AUTONOMOUS:
        s.step()
    assert s.phase == Phase.ENDED and s.tree.branches[0].outcome in ("success", "failure")


def test_resume_after_crash_rebuilds_the_same_tree(policy, world_model, obs0, tmp_path):
    s = _start(policy, world_model, obs0, tmp_path)
    s.resume()
    for _ in range(5):
        s.step()
    s.take_over()
    s.act([200.0, 300.0])
    s.hand_back()
    s.step()
    s.roll_back(3)
    s.branch()
    s.mark(0, keep=False)
    del s  # "the process dies": only the log remains
    r = Session.resume_from(tmp_path / "s.jsonl", policy, world_model)
    assert len(r.tree) == 8 and r.cursor == 3 and r.phase == Phase.PAUSED
    assert r.tree.branches[0].keep is False and len(r.tree.branches) == 2
    assert r.tree.get(6).intervention and r.tree.get(6).source == "operator"
    # continuing from a restored node is bit-identical to continuing from the original
    s2 = _start(policy, world_model, obs0)
    s2.resume()
    for _ in range(3):
        s2.step()
    assert torch.equal(r.tree.get(3).wm_state.scenes, s2.tree.get(3).wm_state.scenes)
    r.resume()
    assert np.array_equal(r.step().obs["observation.state"], s2.step().obs["observation.state"])


def test_image_policy_acts_on_rendered_predictions_and_resumes_exactly(image_policy, world_model, obs0, tmp_path):
    """Nodes keep the model's low-dim prediction; the camera frame is rendered for the policy, its image
    history rides in the cached policy state, and a resumed log continues bit for bit."""
    s = _start(image_policy, world_model, obs0, tmp_path)
    s.resume()
    nodes = [s.step() for _ in range(6)]
    assert all("observation.image" not in n.obs for n in nodes)
    state = nodes[-1].policy_state
    assert state.images.dtype == torch.uint8 and state.images.shape == (1, image_policy.config.n_obs_steps, 96, 96, 3)
    s.roll_back(nodes[2].id)
    s.resume()
    again = s.step()
    assert np.array_equal(again.action, nodes[3].action), "a cached node replays exactly"
    s.pause()
    del s
    r = Session.resume_from(tmp_path / "s.jsonl", image_policy, world_model)
    restored = r.tree.get(nodes[-1].id).policy_state
    assert torch.equal(restored.images, state.images) and torch.equal(restored.obs_history, state.obs_history)
    assert torch.equal(restored.actions, state.actions) and restored.count == state.count
    # a new chunk predicted from the restored image history equals one from the original
    from hiwm.session.engine import policy_observation

    obs = policy_observation(image_policy, world_model.task, nodes[-1].obs)
    fresh = [image_policy.act(st.__class__(st.obs_history, st.actions[:, :0], st.count, st.images), obs,
                              torch.Generator().manual_seed(3))[0] for st in (state, restored)]
    assert torch.equal(*fresh)


def test_export_has_provenance_on_every_frame(policy, world_model, obs0):
    s = _start(policy, world_model, obs0)
    s.resume()
    for _ in range(4):
        s.step()
    s.roll_back(2)
    b = s.branch()
    s.take_over()
    for _ in range(3):
        s.act([250.0, 250.0])
    s.hand_back()
    s.step()
    assert exportable_branches(s.tree) == [b.id]
    f = branch_frames(s.tree, b.id, world_model.checkpoint_id())
    assert len(f["action"]) == 6
    assert f["intervention"].tolist() == [False, False, True, True, True, False]
    assert f["on_branch"].tolist() == [False, False, True, True, True, True]
    assert f["source"].tolist() == ["policy", "policy", "operator", "operator", "operator", "policy"]
    assert f["node_id"][0] == 0 and f["parent_node_id"][0] == -1
    assert np.array_equal(f["parent_node_id"][1:], f["node_id"][:-1])
    assert set(f["wm_checkpoint"]) == {world_model.checkpoint_id()}
