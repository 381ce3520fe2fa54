"""The policy interface, run for every registered backbone x observation kind (state, image, both)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from policy_fixtures import ACTION_DIM, IMAGE, IMG, chunk_batch, drop_checksum, make_stats, make_tiny, obs_step, train_batch
from hiwm.errors import CheckpointError, HiwmError
from hiwm.policies import PolicyState, load_policy, make_policy
from hiwm.training import TrainConfig, train

STATE, ENV = "observation.state", "observation.environment_state"
DIMS_18 = {STATE: 2, ENV: 16}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_default_config_builds_and_has_expected_shape(policy_type, obs_kind):
    features = {"state": [STATE, ENV], "image": [IMAGE], "both": [STATE, IMAGE]}[obs_kind]
    policy = make_policy(policy_type, feature_dims={STATE: 2, ENV: 16}, action_dim=2, input_features=features)
    cfg = policy.config
    assert cfg.type == policy_type and cfg.input_features == features
    assert cfg.horizon == 16 and cfg.n_obs_steps == 2 and cfg.n_action_steps == 8
    has_encoder = any(k.startswith("obs_encoder.") for k in policy.state_dict())
    assert has_encoder == (obs_kind != "state")  # a low-dim policy's checkpoint is unchanged by the image path
    assert cfg.obs_dim == {"state": 18, "image": cfg.image_features, "both": 2 + cfg.image_features}[obs_kind]


def test_forward_loss_is_finite_and_backprops(policy_type, obs_kind):
    policy = make_tiny(policy_type, obs_kind)
    torch.manual_seed(0)
    with torch.no_grad():  # off any zero-initialised gate (adaLN-Zero passes no gradient upstream at step 0)
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    loss, info = policy(train_batch(policy, 8, obs_kind=obs_kind))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = {n: p.grad for n, p in policy.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    if obs_kind != "state":  # the image encoder is trained through the backbone's loss
        assert any(n.startswith("obs_encoder.image.") and g.abs().sum() > 0 for n, g in grads.items())
    assert "loss" in info


def test_output_shapes_and_range(policy_type, obs_kind):
    policy = make_tiny(policy_type, obs_kind)
    cfg = policy.config
    chunk = policy.predict_action_chunk(chunk_batch(policy, 5, obs_kind=obs_kind), generator=gen(0))
    assert chunk.shape == (5, cfg.n_action_steps, ACTION_DIM)
    assert torch.isfinite(chunk).all()
    lo, hi = make_stats()["action"]["min"], make_stats()["action"]["max"]
    # Samples are clipped to the normalised range, so actions stay inside the data's action box.
    assert (chunk >= torch.from_numpy(lo) - 1e-4).all() and (chunk <= torch.from_numpy(hi) + 1e-4).all()
    assert policy.select_action(obs_step(5, obs_kind=obs_kind), generator=gen(0)).shape == (5, ACTION_DIM)
    action, state = policy.act(policy.initial_state(5), obs_step(5, obs_kind=obs_kind), generator=gen(0))
    assert action.shape == (5, ACTION_DIM)
    assert state.obs_history.shape == (5, cfg.n_obs_steps, cfg.lowdim_dim)
    if obs_kind == "state":
        assert state.images is None
    else:
        assert state.images.shape == (5, cfg.n_obs_steps, IMG, IMG, 3) and state.images.dtype == torch.uint8
    assert state.actions.shape == (5, cfg.n_action_steps - 1, ACTION_DIM) and state.count == 1


def test_inputs_are_not_modified(policy_type, obs_kind):
    policy = make_tiny(policy_type, obs_kind)
    batch = train_batch(policy, 4, obs_kind=obs_kind)
    before = {k: v.clone() for k, v in batch.items()}
    policy(batch)
    chunk_in = chunk_batch(policy, 3, obs_kind=obs_kind)
    chunk_before = {k: v.copy() for k, v in chunk_in.items()}
    policy.predict_action_chunk(chunk_in, generator=gen(0))
    obs = obs_step(3, obs_kind=obs_kind)
    obs_before = {k: v.copy() for k, v in obs.items()}
    policy.act(policy.initial_state(3), obs, generator=gen(0))
    assert all(torch.equal(batch[k], before[k]) for k in before)
    assert all(np.array_equal(chunk_in[k], chunk_before[k]) for k in chunk_before)
    assert all(np.array_equal(obs[k], obs_before[k]) for k in obs_before)


def test_acting_ignores_the_training_mode(policy_type, obs_kind, tmp_path):
    """Dropout and augmentation are for training: a policy acts the same from train or eval mode, keeps its
    mode, and a loaded checkpoint comes back in eval mode."""
    policy = make_tiny(policy_type, obs_kind, **({"dropout": 0.5} if policy_type == "flow" else {}))
    batch = chunk_batch(policy, 3, obs_kind=obs_kind)
    policy.train()
    in_train = policy.predict_action_chunk(batch, gen(2))
    assert policy.training
    policy.eval()
    assert torch.equal(in_train, policy.predict_action_chunk(batch, gen(2)))
    policy.save(tmp_path / "ckpt")
    assert not load_policy(tmp_path / "ckpt").training


def test_generator_makes_sampling_deterministic(policy_type, obs_kind):
    policy = make_tiny(policy_type, obs_kind)
    batch = chunk_batch(policy, 4, obs_kind=obs_kind)
    a = policy.predict_action_chunk(batch, generator=gen(3))
    b = policy.predict_action_chunk(batch, generator=gen(3))
    c = policy.predict_action_chunk(batch, generator=gen(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    policy.train()  # inference never augments, even on a module left in training mode
    assert torch.equal(policy.predict_action_chunk(batch, generator=gen(3)), a)


def test_act_executes_the_chunk_from_the_padded_history(policy_type, obs_kind):
    """The first act() repeats the first observation as history and then plays out the chunk."""
    policy = make_tiny(policy_type, obs_kind)
    cfg = policy.config
    obs = obs_step(2, obs_kind=obs_kind)
    history = {k: np.repeat(v[:, None], cfg.n_obs_steps, axis=1) for k, v in obs.items()}
    expected = policy.predict_action_chunk(history, generator=gen(1))
    state = policy.initial_state(2)
    for i in range(cfg.n_action_steps):
        action, state = policy.act(state, obs, generator=gen(1) if i == 0 else None)
        torch.testing.assert_close(action, expected[:, i])
    assert state.actions.shape[1] == 0  # the next step predicts a new chunk


def test_history_keeps_the_newest_steps(policy_type, obs_kind):
    """observe() records steps without acting; act() then predicts from the newest n_obs_steps."""
    policy = make_tiny(policy_type, obs_kind, n_obs_steps=3)
    steps = [obs_step(2, seed=i, obs_kind=obs_kind) for i in range(5)]
    state = policy.initial_state(2)
    for o in steps[:-1]:
        state = policy.observe(state, o)
    assert state.count == 4 and state.actions.shape[1] == 0
    newest = {k: np.stack([s[k] for s in steps[-3:]], axis=1) for k in steps[0]}
    if IMAGE in newest:
        assert torch.equal(state.images[:, 1:], torch.from_numpy(newest[IMAGE][:, :2]))
    action, _ = policy.act(state, steps[-1], generator=gen(2))
    torch.testing.assert_close(action, policy.predict_action_chunk(newest, gen(2))[:, 0])


def test_policy_state_is_a_value_for_rollback(policy_type, obs_kind):
    """Acting twice from the same cached state gives the same actions and leaves the state untouched."""
    policy = make_tiny(policy_type, obs_kind)
    state = policy.initial_state(3)
    for i in range(3):
        _, state = policy.act(state, obs_step(3, seed=i, obs_kind=obs_kind), generator=gen(i))
    saved = PolicyState(state.obs_history.clone(), state.actions.clone(), state.count,
                        None if state.images is None else state.images.clone())

    def branch(s: PolicyState) -> torch.Tensor:
        actions = []
        for i in range(policy.config.n_action_steps + 2):  # crosses a chunk boundary
            a, s = policy.act(s, obs_step(3, seed=10 + i, obs_kind=obs_kind), generator=gen(100 + i))
            actions.append(a)
        return torch.stack(actions, dim=1)

    first, second = branch(state), branch(state)
    assert torch.equal(first, second)
    assert torch.equal(state.obs_history, saved.obs_history) and torch.equal(state.actions, saved.actions)
    if obs_kind != "state":
        assert torch.equal(state.images, saved.images)
    assert state.count == saved.count == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.count = 5
    sub = state.select(1)
    assert sub.batch_size == 1 and torch.equal(sub.actions, state.actions[1:2])
    assert (sub.images is None) == (obs_kind == "state")
    if sub.images is not None:
        assert torch.equal(sub.images, state.images[1:2]) and sub.to("cpu").images.dtype == torch.uint8


def test_select_action_and_reset_wrap_act(policy_type, obs_kind):
    policy = make_tiny(policy_type, obs_kind)
    obs = obs_step(2, obs_kind=obs_kind)
    a1 = policy.select_action(obs, generator=gen(5))
    a2 = policy.select_action(obs)  # from the queue
    policy.reset()
    b1 = policy.select_action(obs, generator=gen(5))
    assert torch.equal(a1, b1) and not torch.equal(a1, a2)
    with pytest.raises(HiwmError, match="batch size"):
        policy.select_action(obs_step(3, obs_kind=obs_kind))


def test_save_load_round_trip_gives_identical_actions(policy_type, obs_kind, tmp_path):
    policy = make_tiny(policy_type, obs_kind)
    torch.manual_seed(0)
    with torch.no_grad():  # perturb the weights so the test does not pass on an untrained init
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    policy.save(tmp_path / "ckpt")
    loaded = load_policy(tmp_path / "ckpt", device="cpu")
    assert type(loaded) is type(policy) and loaded.config == policy.config
    batch = chunk_batch(policy, 4, obs_kind=obs_kind)
    assert torch.equal(policy.predict_action_chunk(batch, gen(7)), loaded.predict_action_chunk(batch, gen(7)))
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["type"] == policy_type
    assert not list((tmp_path / "ckpt").glob(".*tmp*"))  # no temporary files left behind


def test_training_lowers_the_loss(policy_type, obs_kind):
    torch.manual_seed(0)
    policy = make_tiny(policy_type, obs_kind)
    batch = train_batch(policy, 16, obs_kind=obs_kind)
    cfg = TrainConfig(steps=60, batch_size=16, lr=3e-3, warmup_steps=6, ema_decay=None, log_every=20, seed=0)
    result = train(policy, lambda n, g: batch, cfg, progress=False)
    first, last = result["history"][0][1], result["history"][-1][1]
    assert last < 0.5 * first, result["history"]


def test_image_input_must_be_uint8_rgb(policy_type):
    policy = make_tiny(policy_type, "image")
    obs = obs_step(2, obs_kind="image")
    for bad in (obs[IMAGE].astype(np.float32) / 255, obs[IMAGE][..., :1]):
        with pytest.raises(HiwmError, match="uint8 RGB") as info:
            policy.select_action({IMAGE: bad})
        assert "\n" not in str(info.value)
    with pytest.raises(HiwmError, match="has no 'observation.image'"):
        policy.act(policy.initial_state(2), obs_step(2, obs_kind="state"))


def test_images_of_another_size_are_resized(policy_type):
    policy = make_tiny(policy_type, "image")
    small = chunk_batch(policy, 2, obs_kind="image")
    big = {IMAGE: np.repeat(np.repeat(small[IMAGE], 2, axis=2), 2, axis=3)}  # (B, T, 24, 24, 3)
    chunk = policy.predict_action_chunk(big, gen(0))
    assert chunk.shape == (2, policy.config.n_action_steps, ACTION_DIM) and torch.isfinite(chunk).all()


def test_config_errors_are_one_line(policy_type):
    with pytest.raises(HiwmError, match="feature_dims"):
        make_policy(policy_type)
    cases = [({"input_features": []}, "input_features is empty"),
             ({"input_features": [STATE, STATE]}, "duplicates"),
             ({"input_features": [IMAGE], "image_encoder": "vit"}, "unknown image encoder 'vit'"),
             ({"input_features": [IMAGE], "crop_fraction": 0.0}, "crop_fraction"),
             ({"n_action_steps": 20}, "exceeds horizon")]
    for overrides, needle in cases:
        with pytest.raises(HiwmError, match=needle) as info:
            make_policy(policy_type, feature_dims=dict(DIMS_18), action_dim=2, **overrides)
        assert "\n" not in str(info.value)
    # An image-only policy needs no low-dim sizes and no low-dim statistics.
    policy = make_policy(policy_type, action_dim=2, input_features=[IMAGE], image_size=IMG)
    policy.set_stats({"action": make_stats()["action"]})
    with pytest.raises(HiwmError, match="set_stats"):
        make_policy(policy_type, action_dim=2, input_features=[IMAGE], image_size=IMG).select_action(
            obs_step(1, obs_kind="image"))


def test_load_errors_are_one_line(policy_type, tmp_path):
    policy = make_tiny(policy_type)
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
    # Weights of an image policy under a low-dim config: tensors the config does not have.
    make_tiny(policy_type, "both").save(tmp_path / "other")
    (ckpt / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    assert "checksum mismatch" in one_line_checkpoint_error(ckpt, "model.safetensors")
    drop_checksum(ckpt)  # saved before checksums: the tensor names give it away
    assert "unexpected" in one_line_checkpoint_error(ckpt, "model.safetensors")


def one_line_checkpoint_error(path, name: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_policy(path)
    message = str(info.value)
    assert "\n" not in message and name in message
    return message


def test_unknown_type_is_a_hiwm_error(tmp_path):
    with pytest.raises(HiwmError, match="unknown policy 'nope'"):
        make_policy("nope")
    (tmp_path / "config.json").write_text(json.dumps({"type": "nope"}))
    with pytest.raises(HiwmError, match="unknown policy 'nope'"):
        load_policy(tmp_path)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
def test_cuda_device_is_respected(policy_type, obs_kind, tmp_path):
    policy = make_tiny(policy_type, obs_kind, device="cuda")
    assert policy.device.type == "cuda"
    assert policy.predict_action_chunk(chunk_batch(policy, 2, obs_kind=obs_kind), gen(0)).device.type == "cuda"
    policy.save(tmp_path / "c")
    assert load_policy(tmp_path / "c", device="cuda").device.type == "cuda"
