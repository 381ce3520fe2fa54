"""The policy interface, run for every registered policy type, plus Diffusion-specific checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from policy_fixtures import ACTION_DIM, DIMS, ENV, STATE, make_stats, make_tiny, obs_step, tiny_config, train_batch
from hiwm.errors import CheckpointError, HiwmError
from hiwm.policies import PolicyState, load_policy, make_policy
from hiwm.training import TrainConfig, train


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def chunk_batch(policy, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = policy.config.n_obs_steps
    return {k: rng.uniform(-1, 2, size=(batch, t, d)).astype(np.float32) for k, d in DIMS.items()}


def test_default_config_builds_and_has_expected_shape(policy_type):
    policy = make_policy(policy_type, feature_dims={STATE: 2, ENV: 16}, action_dim=2)
    assert policy.config.type == policy_type
    assert policy.config.horizon == 16 and policy.config.n_obs_steps == 2 and policy.config.n_action_steps == 8


def test_forward_loss_is_finite_and_backprops(policy_type):
    policy = make_tiny(policy_type)
    torch.manual_seed(0)
    loss, info = policy(train_batch(policy, 8))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in policy.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert "loss" in info


def test_output_shapes_and_range(policy_type):
    policy = make_tiny(policy_type)
    cfg = policy.config
    chunk = policy.predict_action_chunk(chunk_batch(policy, 5), generator=gen(0))
    assert chunk.shape == (5, cfg.n_action_steps, ACTION_DIM)
    assert torch.isfinite(chunk).all()
    lo, hi = make_stats()["action"]["min"], make_stats()["action"]["max"]
    # Samples are clipped to the normalised range, so actions stay inside the data's action box.
    assert (chunk >= torch.from_numpy(lo) - 1e-4).all() and (chunk <= torch.from_numpy(hi) + 1e-4).all()
    assert policy.select_action(obs_step(5), generator=gen(0)).shape == (5, ACTION_DIM)
    action, state = policy.act(policy.initial_state(5), obs_step(5), generator=gen(0))
    assert action.shape == (5, ACTION_DIM)
    assert state.obs_history.shape == (5, cfg.n_obs_steps, cfg.obs_dim)
    assert state.actions.shape == (5, cfg.n_action_steps - 1, ACTION_DIM) and state.count == 1


def test_inputs_are_not_modified(policy_type):
    policy = make_tiny(policy_type)
    batch = train_batch(policy, 4)
    before = {k: v.clone() for k, v in batch.items()}
    policy(batch)
    chunk_in = chunk_batch(policy, 3)
    chunk_before = {k: v.copy() for k, v in chunk_in.items()}
    policy.predict_action_chunk(chunk_in, generator=gen(0))
    obs = obs_step(3)
    obs_before = {k: v.copy() for k, v in obs.items()}
    policy.act(policy.initial_state(3), obs, generator=gen(0))
    assert all(torch.equal(batch[k], before[k]) for k in before)
    assert all(np.array_equal(chunk_in[k], chunk_before[k]) for k in chunk_before)
    assert all(np.array_equal(obs[k], obs_before[k]) for k in obs_before)


def test_generator_makes_sampling_deterministic(policy_type):
    policy = make_tiny(policy_type)
    batch = chunk_batch(policy, 4)
    a = policy.predict_action_chunk(batch, generator=gen(3))
    b = policy.predict_action_chunk(batch, generator=gen(3))
    c = policy.predict_action_chunk(batch, generator=gen(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_act_executes_the_chunk_from_the_padded_history(policy_type):
    """The first act() repeats the first observation as history and then plays out the chunk."""
    policy = make_tiny(policy_type)
    cfg = policy.config
    obs = obs_step(2)
    history = {k: np.repeat(v[:, None], cfg.n_obs_steps, axis=1) for k, v in obs.items()}
    expected = policy.predict_action_chunk(history, generator=gen(1))
    state = policy.initial_state(2)
    for i in range(cfg.n_action_steps):
        action, state = policy.act(state, obs, generator=gen(1) if i == 0 else None)
        torch.testing.assert_close(action, expected[:, i])
    assert state.actions.shape[1] == 0  # the next step predicts a new chunk


def test_policy_state_is_a_value_for_rollback(policy_type):
    """Acting twice from the same cached state gives the same actions and leaves the state untouched."""
    policy = make_tiny(policy_type)
    state = policy.initial_state(3)
    for i in range(3):
        _, state = policy.act(state, obs_step(3, seed=i), generator=gen(i))
    saved = PolicyState(state.obs_history.clone(), state.actions.clone(), state.count)

    def branch(s: PolicyState) -> torch.Tensor:
        actions = []
        for i in range(policy.config.n_action_steps + 2):  # crosses a chunk boundary
            a, s = policy.act(s, obs_step(3, seed=10 + i), generator=gen(100 + i))
            actions.append(a)
        return torch.stack(actions, dim=1)

    first, second = branch(state), branch(state)
    assert torch.equal(first, second)
    assert torch.equal(state.obs_history, saved.obs_history) and torch.equal(state.actions, saved.actions)
    assert state.count == saved.count == 3
    with pytest.raises(Exception):
        state.count = 5  # frozen
    sub = state.select(1)
    assert sub.batch_size == 1 and torch.equal(sub.actions, state.actions[1:2])


def test_select_action_and_reset_wrap_act(policy_type):
    policy = make_tiny(policy_type)
    obs = obs_step(2)
    a1 = policy.select_action(obs, generator=gen(5))
    a2 = policy.select_action(obs)  # from the queue
    policy.reset()
    b1 = policy.select_action(obs, generator=gen(5))
    assert torch.equal(a1, b1) and not torch.equal(a1, a2)
    with pytest.raises(HiwmError, match="batch size"):
        policy.select_action(obs_step(3))


def test_save_load_round_trip_gives_identical_actions(policy_type, tmp_path):
    policy = make_tiny(policy_type)
    torch.manual_seed(0)
    with torch.no_grad():  # perturb the weights so the test does not pass on an untrained init
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    policy.save(tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt", device="cpu")
    assert type(loaded) is type(policy) and loaded.config == policy.config
    batch = chunk_batch(policy, 4)
    assert torch.equal(policy.predict_action_chunk(batch, gen(7)), loaded.predict_action_chunk(batch, gen(7)))
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["type"] == policy_type
    assert not list((tmp_path / "ckpt").glob(".*tmp*"))  # no temporary files left behind


def one_line_checkpoint_error(path, name: str):
    with pytest.raises(CheckpointError) as info:
        load_policy(path)
    message = str(info.value)
    assert "\n" not in message and name in message
    return message


def test_load_errors_are_one_line(tmp_path):
    policy = make_tiny("diffusion")
    ckpt = tmp_path / "ckpt"
    one_line_checkpoint_error(tmp_path / "nowhere", "nowhere")
    ckpt.mkdir()
    one_line_checkpoint_error(ckpt, "config.json")
    policy.save(ckpt)
    config_text = (ckpt / "config.json").read_text()
    (ckpt / "config.json").write_text("{not json")
    one_line_checkpoint_error(ckpt, "config.json")
    (ckpt / "config.json").write_text(json.dumps({**json.loads(config_text), "bogus_field": 1}))
    one_line_checkpoint_error(ckpt, "config.json")
    (ckpt / "config.json").write_text(config_text)
    weights = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    one_line_checkpoint_error(ckpt, "model.safetensors")
    (ckpt / "model.safetensors").write_bytes(b"\x00garbage")
    one_line_checkpoint_error(ckpt, "model.safetensors")
    (ckpt / "model.safetensors").unlink()
    one_line_checkpoint_error(ckpt, "model.safetensors")
    # Weights of a differently sized model: shapes disagree with the config.
    make_tiny("diffusion", down_dims=(8, 16), n_groups=4).save(tmp_path / "other")
    (ckpt / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    assert "shape" in one_line_checkpoint_error(ckpt, "model.safetensors")


def test_unknown_type_is_a_hiwm_error(tmp_path):
    with pytest.raises(HiwmError, match="unknown policy 'nope'"):
        make_policy("nope")
    (tmp_path / "config.json").write_text(json.dumps({"type": "nope"}))
    with pytest.raises(HiwmError, match="unknown policy 'nope'"):
        load_policy(tmp_path)


def test_config_and_stats_errors():
    with pytest.raises(HiwmError, match="feature_dims"):
        make_policy("diffusion")
    with pytest.raises(HiwmError, match="horizon"):
        make_policy("diffusion", **tiny_config("diffusion", horizon=2))
    with pytest.raises(HiwmError, match="prediction_type"):
        make_policy("diffusion", **tiny_config("diffusion", prediction_type="v"))
    policy = make_policy("diffusion", **tiny_config("diffusion"))
    with pytest.raises(HiwmError, match="set_stats"):
        policy.select_action(obs_step(1))
    with pytest.raises(HiwmError, match="no entry"):
        policy.set_stats({"action": make_stats()["action"]})


def test_constant_dimensions_normalise_to_finite_values():
    policy = make_tiny("diffusion")
    stats = make_stats()
    stats[ENV]["max"] = stats[ENV]["min"].copy()  # a dimension that never moved in the data
    policy.set_stats(stats)
    loss, _ = policy(train_batch(policy, 4))
    assert torch.isfinite(loss)


def test_padded_actions_are_excluded_from_the_loss(monkeypatch):
    """With the network stubbed to output 0, the epsilon loss is the mean of noise^2 over real entries."""
    policy = make_tiny("diffusion")
    batch = train_batch(policy, 8)
    monkeypatch.setattr(policy.unet, "forward", lambda x, t, cond: torch.zeros_like(x))
    torch.manual_seed(1)
    loss, _ = policy(batch)
    torch.manual_seed(1)
    noise = torch.randn(batch["action"].shape)  # the same draw compute_loss makes first
    valid = ~batch["action_is_pad"]
    torch.testing.assert_close(loss, (noise**2)[valid].mean())
    assert batch["action_is_pad"].any()


def test_training_lowers_the_loss():
    policy = make_tiny("diffusion")
    batch = train_batch(policy, 16)
    cfg = TrainConfig(steps=200, batch_size=16, lr=3e-3, warmup_steps=20, ema_decay=None, log_every=50, seed=0)
    result = train(policy, lambda n, g: batch, cfg, progress=False)
    first, last = result["history"][0][1], result["history"][-1][1]
    assert last < 0.4 * first, result["history"]


def test_sample_prediction_type_trains_and_samples():
    policy = make_tiny("diffusion", prediction_type="sample")
    loss, _ = policy(train_batch(policy, 4))
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(policy.predict_action_chunk(chunk_batch(policy, 2), gen(0))).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda_device_is_respected(tmp_path):
    policy = make_tiny("diffusion", device="cuda")
    assert policy.device.type == "cuda"
    assert policy.predict_action_chunk(chunk_batch(policy, 2), gen(0)).device.type == "cuda"
    policy.save(tmp_path / "c")
    assert load_policy(tmp_path / "c", device="cuda").device.type == "cuda"
