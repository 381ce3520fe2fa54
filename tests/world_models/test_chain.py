"""The per-node ("chain") world model: its feature split, the world-model contract, and training."""

import numpy as np
import pytest
import torch

from hiwm.errors import HiwmError
from hiwm.tasks import task_class
from hiwm.training import TrainConfig
from hiwm.world_models import WORLD_MODELS, load_world_model
from hiwm.world_models.ensemble.chain import ChainConfig, ChainWorldModel
from wm_fixtures import tiny_world_model, trajectory

TASKS = ["rope-route", "towel-fold"]


def test_registered():
    assert "chain" in WORLD_MODELS.names() and WORLD_MODELS.get("chain").config_class is ChainConfig


def test_split_gives_each_node_its_own_features_and_its_place_from_the_held_node():
    wm = tiny_world_model("rope-route", kind="chain")
    c, p = wm.codec, wm.codec.n_pts
    feats = torch.randn(2, c.n_in)
    held_at = c.n_in - c.n_static - p  # layout: GripperCodec.inputs
    feats[:, held_at:held_at + p] = 0
    feats[0, held_at + 5] = 1.0  # entry 0 holds node 5; entry 1 holds nothing
    node, glob = wm.split(feats)
    assert node.shape == (2, p, wm.n_node) and glob.shape == (2, wm.n_glob)
    rel = feats[:, :3 * p].reshape(2, p, 3)
    assert torch.equal(node[..., 0:3], rel) and torch.equal(node[..., 3], feats[:, 3 * p:4 * p])
    offset = node[..., 3 + 1 + 3 * (wm.config.n_hist - 1) + 1]
    assert offset[0, 5] == 0 and torch.isclose(offset[0, 6], torch.tensor(1 / p)) and offset[0, 0] < 0
    assert torch.all(offset[1] == 0), "nothing held: no offsets"
    posts = feats[:, -c.n_static:].reshape(2, c.n_static // 2, 2)
    torch.testing.assert_close(node[:, 7, -c.n_static:].reshape(2, -1, 2), posts - rel[:, 7, None, :2])


@pytest.mark.parametrize("task", TASKS)
def test_contract_pure_batched_numpy_equals_torch_and_save_load(task, tmp_path):
    wm = tiny_world_model(task, kind="chain")
    scenes, actions = (x[:3] for x in trajectory(task))
    state = wm.initial_state(task_class(task).observe_lowdim(scenes))
    copy = state.scenes.clone()
    s1, obs, info = wm.step(state, actions)
    assert torch.equal(state.scenes, copy) and np.all(np.isfinite(info["scene"]))
    assert info["uncertainty"].shape == (3,) and np.all(info["uncertainty"] > 0)
    np.testing.assert_allclose(wm.step(state.index(1), actions[1:2])[2]["scene"], info["scene"][1:2], atol=1e-5)
    wm.train()
    slow = wm.step(state, actions)[2]
    wm.eval()
    np.testing.assert_allclose(info["scene"], slow["scene"], atol=1e-5)
    wm.save(tmp_path / "wm")
    loaded = load_world_model(tmp_path / "wm")
    assert type(loaded) is type(wm) and loaded.checkpoint_id() == wm.checkpoint_id()
    assert np.array_equal(loaded.step(state, actions)[2]["scene"], info["scene"])
    with pytest.raises(HiwmError, match="actions must have shape"):
        wm.step(state, actions[:, :-1])


def test_training_lowers_the_loss():
    episodes = [(sc[:-1], ac) for sc, ac in (trajectory("rope-route", steps=16, seed=s) for s in (1, 2))]
    cfg = ChainConfig(task="rope-route", members=2, channels=16, conv_layers=2, rollout_steps=3)
    model, summary = ChainWorldModel.fit_episodes(cfg, episodes, TrainConfig(
        steps=60, batch_size=16, lr=3e-3, warmup_steps=5, ema_decay=None, log_every=10), progress=False)
    losses = [loss for _, loss in summary["history"]]
    assert type(model).__name__ == "ChainWorldModel" and losses[-1] < 0.7 * losses[0]
