"""The world-model contract, for every registered kind (a new kind is picked up from the registry):
fit from a dataset, initial state, step shapes and no NaN, the state protocol (index, cat, nbytes), rollback
to the exact cached state, save/load, a session killed and resumed from its log, export of corrections."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch
from wm_fixtures import play_dataset, tiny_task_policy

from hiwm.data import LeRobotDataset
from hiwm.session.engine import Session, SessionConfig
from hiwm.session.export import (
    correction_episodes,
    export_branches,
    exportable_branches,
)
from hiwm.session.records import encode_value
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.training import TrainConfig
from hiwm.world_models import WORLD_MODELS, WorldModel, load_world_model
from hiwm.world_models.base import WorldModelState

# shrinks whichever of these a kind's config has, so every kind trains in well under a second
TINY = {"members": 2, "hidden": 16, "layers": 1, "channels": 8, "conv_layers": 1, "rollout_steps": 2}


@pytest.fixture(scope="module", params=WORLD_MODELS.names())
def kind(request, tmp_path_factory):
    """(model fitted through its kind's ``fit`` on a tiny dataset, that dataset, the model's saved copy)."""
    cls = WORLD_MODELS.get(request.param)
    names = {f.name for f in dataclasses.fields(cls.config_class)}
    config = cls.config_class(**{k: v for k, v in TINY.items() if k in names})
    ds = play_dataset(config.task, tmp_path_factory.mktemp("data") / config.task)
    tc = TrainConfig(steps=3, batch_size=8, lr=1e-3, warmup_steps=1, ema_decay=None, log_every=3, seed=0)
    model, summary = cls.fit(config, [ds], tc, progress=False)
    assert type(model) is cls and not model.training and np.isfinite(summary["final_loss"])
    saved = model.save(tmp_path_factory.mktemp("wm") / request.param)
    return model, ds, saved


def _values(state) -> dict:
    """A state as exact bytes (the session log's encoding): equal values <=> equal dicts."""
    return encode_value(state)


def _actions(model: WorldModel, n: int, seed: int = 0) -> np.ndarray:
    """n actions (n, A) spread inside the task's action box."""
    spec = model.task.spec_
    lo, hi = np.asarray(spec.action_low, np.float64), np.asarray(spec.action_high, np.float64)
    u = np.random.default_rng(seed).uniform(0.3, 0.7, (n, len(lo)))
    return lo + u * (hi - lo)


def _batch(obs: list[dict]) -> dict:
    return {k: np.stack([o[k] for o in obs]) for k in obs[0]}


def test_initial_state_step_and_the_state_protocol(kind):
    model, _, _ = kind
    spec = model.task.spec_
    obs = _batch([model.observation_for_seed(s) for s in (11, 12, 13)])
    state = model.initial_state(obs)
    assert isinstance(state, type(model).state_class) and isinstance(state, WorldModelState)
    assert state.batch_size == 3
    before = _values(state)
    new, pred, info = model.step(state, _actions(model, 3))
    assert _values(state) == before, "step never changes its input state"
    assert type(new) is type(state) and new.batch_size == 3
    assert pred[STATE_KEY].shape == (3, spec.agent_dim) and pred[ENV_KEY].shape == (3, spec.env_dim)
    assert info["scene"].shape == (3, spec.scene_dim) and info["uncertainty"].shape == (3,)
    for k in ("progress", "is_success", "terminal_success"):
        assert info[k].shape == (3,)
    assert np.all(np.isfinite(info["scene"])) and np.all(np.isfinite(info["uncertainty"]))
    assert np.all(np.isfinite(pred[STATE_KEY])) and np.all(np.isfinite(pred[ENV_KEY]))
    for f in dataclasses.fields(new):
        v = getattr(new, f.name)
        assert not torch.is_floating_point(v) or torch.isfinite(v).all(), f"{f.name} holds NaN or inf"
    # the protocol: index keeps the batch axis, cat undoes it, nbytes adds up
    parts = [new.index(i) for i in range(3)]
    assert all(p.batch_size == 1 for p in parts)
    assert _values(type(new).cat(parts)) == _values(new)
    assert sum(p.nbytes() for p in parts) == new.nbytes() > 0
    # entry i stepped alone is entry i of the batch
    alone = model.step(state.index(1), _actions(model, 3)[1:2])[2]["scene"]
    assert np.allclose(alone, info["scene"][1:2], atol=1e-4)


def test_initial_state_accepts_a_camera_frame(kind):
    model, _, _ = kind
    task = model.task
    obs = model.observation_for_seed(21)
    frame = task.render_scene(task.scene_of(obs), task.spec_.image_size)
    with_frame = model.initial_state({**{k: v[None] for k, v in obs.items()}, IMAGE_KEY: frame[None]})
    assert type(with_frame) is type(model).state_class and with_frame.batch_size == 1


def test_save_load_gives_identical_outputs(kind):
    model, _, saved = kind
    loaded = load_world_model(saved)
    assert type(loaded) is type(model) and loaded.checkpoint_id() == model.checkpoint_id()
    state = model.initial_state(_batch([model.observation_for_seed(s) for s in (31, 32)]))
    for a in _actions(model, 4, seed=1):
        a = np.stack([a, a])
        s1, p1, i1 = model.step(state, a)
        s2, p2, i2 = loaded.step(state, a)
        assert _values(s1) == _values(s2)
        for k in p1:
            assert np.array_equal(p1[k], p2[k])
        for k in i1:
            assert np.array_equal(i1[k], i2[k])
        state = s1


def _first_part(s: Session, acts: np.ndarray) -> None:
    """Policy steps, corrections, a roll-back: ends PAUSED at node 2."""
    s.resume()
    for _ in range(3):
        s.step()
    s.take_over()
    for a in acts[:2]:
        s.act(a)
    s.roll_back(2)


def _second_part(s: Session, acts: np.ndarray) -> None:
    """A new branch from the cursor with corrections, then the policy again."""
    s.branch()
    s.take_over()
    for a in acts[2:5]:
        s.act(a)
    s.hand_back()
    for _ in range(2):
        s.step()


def _tree_values(s: Session) -> list:
    return [(n.id, n.parent_id, n.branch_id, n.source, _values(n.wm_state), _values(n.policy_state),
             {k: v.tobytes() for k, v in n.obs.items()}, None if n.action is None else n.action.tobytes(),
             n.progress, n.uncertainty, n.success) for n in (s.tree.get(i) for i in range(len(s.tree)))]


def _session(model, ds, path=None) -> tuple[Session, object]:
    policy = tiny_task_policy(model.task.spec_.name, ds.stats)
    obs0 = model.observation_for_seed(41)
    return Session.start(policy, model, obs0, SessionConfig(max_steps=50, seed=2), log_path=path), policy


def test_rollback_returns_the_exact_cached_state(kind):
    model, ds, _ = kind
    s, _ = _session(model, ds)
    acts = _actions(model, 5, seed=2)
    _first_part(s, acts)
    kept = {i: _values(s.tree.get(i).wm_state) for i in range(len(s.tree))}
    _second_part(s, acts)
    for i, v in kept.items():
        node = s.roll_back(i)
        assert node is s.tree.get(i) and _values(node.wm_state) == v, f"node {i} changed after later steps"
    # stepping again from a node with the action taken there gives its child, bit for bit
    child = s.tree.get(4)
    s.roll_back(child.parent_id)
    s.take_over()
    again = s.act(child.action)
    assert _values(again.wm_state) == _values(child.wm_state) and again.id != child.id


def test_a_killed_session_resumes_bit_for_bit(kind, tmp_path):
    model, ds, saved = kind
    acts = _actions(model, 5, seed=3)
    live, policy = _session(model, ds, tmp_path / "s.jsonl")
    _first_part(live, acts)
    shutil.copyfile(tmp_path / "s.jsonl", tmp_path / "killed.jsonl")  # the log as a killed process left it
    before_kill = _tree_values(live)
    _second_part(live, acts)
    live.log.close()
    # a new process: the model from its checkpoint, the session from its log
    resumed = Session.resume_from(tmp_path / "killed.jsonl", policy, load_world_model(saved))
    assert _tree_values(resumed) == before_kill and resumed.cursor == 2
    _second_part(resumed, acts)
    assert _tree_values(resumed) == _tree_values(live), "the resumed session continues exactly as the live one"
    resumed.log.close()


def test_export_of_corrections(kind, tmp_path):
    model, ds, _ = kind
    s, _ = _session(model, ds)
    acts = _actions(model, 5, seed=4)
    _first_part(s, acts)
    _second_part(s, acts)
    branches = exportable_branches(s.tree)
    assert branches == [0, 1]
    out = export_branches(s.tree, branches, tmp_path / "corr", model.task.spec_, model.checkpoint_id(), "t")
    assert [r["interventions"] for r in out] == [2, 3]
    got = LeRobotDataset(tmp_path / "corr")
    assert got.num_episodes == 2 and set(got.column("wm_checkpoint")) == {model.checkpoint_id()}
    eps = correction_episodes(tmp_path / "corr", outcomes=False)
    assert [int(e["train_mask"].sum()) for e in eps] == [2, 3]
    assert export_branches(s.tree, branches, tmp_path / "corr", model.task.spec_, model.checkpoint_id(), "t") == []
