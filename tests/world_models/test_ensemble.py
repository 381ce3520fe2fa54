"""World model: functional interface (state is a value), batching, save/load, env wrappers, training."""

import numpy as np
import pytest
import torch

from hiwm.errors import CheckpointError
from hiwm.tasks.pusht import PushTTask
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.world_models import WORLD_MODELS, WorldModelEnv, WorldModelVecEnv, load_world_model


def test_registry_lists_ensemble():
    assert "ensemble" in WORLD_MODELS.names()


def test_step_is_pure_and_batched(world_model):
    scenes = np.stack([PushTTask.initial_scene(s) for s in range(4)])
    state = world_model.initial_state(PushTTask.observe_lowdim(scenes))
    copy = (state.scenes.clone(), state.actions.clone())
    actions = scenes[:, 2:4] + 10
    s1, obs1, info1 = world_model.step(state, actions)
    s2, obs2, info2 = world_model.step(state, actions)
    assert torch.equal(state.scenes, copy[0]) and torch.equal(state.actions, copy[1]), "input state unchanged"
    assert np.array_equal(info1["scene"], info2["scene"]), "same state + action -> same prediction"
    assert obs1[STATE_KEY].shape == (4, 2) and obs1[ENV_KEY].shape == (4, 16)
    assert info1["uncertainty"].shape == (4,) and np.all(info1["uncertainty"] >= 0)
    assert np.all(np.isfinite(info1["scene"]))
    # batch entry i equals stepping entry i alone
    single = world_model.step(state.index(2), actions[2:3])[2]["scene"]
    assert np.allclose(single, info1["scene"][2:3], atol=1e-5)


@pytest.mark.parametrize("batch", [1, 256])
def test_numpy_fast_path_matches_torch_path(world_model, batch):
    """The CPU path (fused numpy network, numpy features) predicts what the torch path (training) does."""
    rng = np.random.default_rng(batch)
    scenes = np.stack([PushTTask.initial_scene(s) for s in range(batch)])
    state = world_model.initial_state(PushTTask.observe_lowdim(scenes))
    actions = np.clip(scenes[:, 2:4] + rng.normal(0, 30, (batch, 2)), 0, 512)
    state = world_model.step(state, actions)[0]  # a history that is not at rest
    fast_state, fast_obs, fast = world_model.step(state, actions)
    world_model.train()
    slow_state, slow_obs, slow = world_model.step(state, actions)
    world_model.eval()
    assert np.allclose(fast["scene"], slow["scene"], rtol=0, atol=1e-3)  # px; float32 at 512 is ~3e-5
    assert np.allclose(fast["uncertainty"], slow["uncertainty"], rtol=1e-4, atol=1e-4)
    assert np.allclose(fast["progress"], slow["progress"], atol=1e-5)
    assert np.allclose(fast_obs[ENV_KEY], slow_obs[ENV_KEY], atol=1e-3)
    for a, b in ((fast_state.scenes, slow_state.scenes), (fast_state.actions, slow_state.actions)):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.allclose(a, b, atol=1e-3)
    assert torch.equal(fast_state.t, slow_state.t) and fast_state.t.dtype == slow_state.t.dtype


def test_fused_numpy_network_equals_the_torch_network(world_model):
    """Folding the normalisation into the weights changes nothing but float32 rounding."""
    feats = torch.randn(256, world_model.codec.n_in) * 3 + world_model.in_mean
    with torch.no_grad():
        ref = world_model.deltas(feats[None].expand(world_model.config.members, -1, -1)).numpy()
    got = world_model._numpy_net()(feats.numpy())
    assert got.shape == ref.shape and np.allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_step_without_the_judge_gives_the_same_prediction(world_model):
    scenes = np.stack([PushTTask.initial_scene(s) for s in range(3)])
    state = world_model.initial_state(PushTTask.observe_lowdim(scenes))
    judged = world_model.step(state, scenes[:, 2:4])[2]
    bare = world_model.step(state, scenes[:, 2:4], judge=False)[2]
    assert set(bare) == {"scene", "uncertainty"} and np.array_equal(bare["scene"], judged["scene"])
    progress, ok, ok95 = PushTTask.judge_batch(bare["scene"])
    assert np.array_equal(progress, judged["progress"]) and np.array_equal(ok95, judged["terminal_success"])


def test_save_load_round_trip_gives_identical_predictions(world_model, tmp_path):
    world_model.save(tmp_path / "wm")
    loaded = load_world_model(tmp_path / "wm")
    state = world_model.initial_state(PushTTask.observe_lowdim(PushTTask.initial_scene(7)[None]))
    a = np.array([[250.0, 260.0]])
    assert np.array_equal(world_model.step(state, a)[2]["scene"], loaded.step(state, a)[2]["scene"])
    assert loaded.checkpoint_id() == world_model.checkpoint_id()


def test_missing_and_corrupt_checkpoints_are_one_line_errors(world_model, tmp_path):
    with pytest.raises(CheckpointError, match="missing"):
        load_world_model(tmp_path / "nothing")
    world_model.save(tmp_path / "wm")
    (tmp_path / "wm" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError) as e:
        load_world_model(tmp_path / "wm")
    assert "\n" not in str(e.value)
    (tmp_path / "wm" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        load_world_model(tmp_path / "wm")


def test_gymnasium_env_and_vec_env(world_model):
    env = WorldModelEnv(world_model)
    obs, info = env.reset(seed=100000)
    sim_obs = PushTTask.observe(PushTTask.initial_scene(100000), images=True)
    assert np.array_equal(obs["observation.image"], sim_obs["observation.image"]), "same first frame as the simulator"
    obs, reward, terminated, truncated, info = env.step(np.array([256.0, 256.0]))
    assert set(obs) == set(sim_obs) and 0 <= reward <= 1 and "uncertainty" in info
    vec = WorldModelVecEnv(world_model)
    o = vec.reset([1, 2, 3])
    o, info = vec.step(np.full((3, 2), 200.0))
    assert o[ENV_KEY].shape == (3, 16) and info["terminal_success"].shape == (3,)


def test_multistep_training_lowers_loss():
    from hiwm.tasks import make_task
    from hiwm.training import TrainConfig
    from hiwm.world_models import EnsembleConfig, EnsembleWorldModel

    env = make_task("pusht", images=False)
    rng = np.random.default_rng(0)
    episodes = []
    for seed in range(3):
        env.reset(seed=seed)
        scenes, actions = [], []
        for _ in range(40):
            s = env.scene()
            a = s[2:4] + rng.normal(0, 40, 2)
            scenes.append(s)
            actions.append(a)
            env.step(np.clip(a, 0, 512))
        episodes.append((np.array(scenes), np.clip(np.array(actions), 0, 512)))
    cfg = EnsembleConfig(members=2, hidden=32, layers=2, rollout_steps=3)
    model, summary = EnsembleWorldModel.fit_episodes(cfg, episodes, TrainConfig(
        steps=60, batch_size=32, lr=3e-3, warmup_steps=5, ema_decay=None, log_every=10), progress=False)
    losses = [loss for _, loss in summary["history"]]
    assert losses[-1] < losses[0]


def test_a_diverging_member_gives_a_huge_but_finite_uncertainty(world_model, tmp_path):
    """A member's spread that overflows float32 must still be writable as a frame (the dataset refuses inf)."""
    world_model.save(tmp_path / "wm")
    wild = load_world_model(tmp_path / "wm")
    with torch.no_grad():
        wild.net[-1].bias[0] += 1e25  # member 0 predicts an absurd change
    wild._np_cache = None
    state = wild.initial_state(PushTTask.observe_lowdim(PushTTask.initial_scene(0)[None]))
    unc = wild.step(state, PushTTask.initial_scene(0)[None, 2:4])[2]["uncertainty"]
    assert np.all(np.isfinite(unc)) and unc[0] > 1e30
