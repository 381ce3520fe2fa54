"""Diffusion-specific checks (the shared interface is tested for every backbone in test_interface.py)."""

from __future__ import annotations

import pytest
import torch

from policy_fixtures import ENV, chunk_batch, drop_checksum, make_stats, make_tiny, obs_step, tiny_config, train_batch
from hiwm.errors import CheckpointError, HiwmError
from hiwm.policies import load_policy, make_policy


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


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
    policy = make_tiny("diffusion", prediction_type="epsilon")
    batch = train_batch(policy, 8)
    monkeypatch.setattr(policy.unet, "forward", lambda x, t, cond: torch.zeros_like(x))
    torch.manual_seed(1)
    loss, _ = policy(batch)
    torch.manual_seed(1)
    noise = torch.randn(batch["action"].shape)  # the same draw compute_loss makes first
    valid = ~batch["action_is_pad"]
    torch.testing.assert_close(loss, (noise**2)[valid].mean())
    assert batch["action_is_pad"].any()


def test_sample_prediction_type_trains_and_samples():
    policy = make_tiny("diffusion", prediction_type="sample")
    loss, _ = policy(train_batch(policy, 4))
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(policy.predict_action_chunk(chunk_batch(policy, 2), gen(0))).all()


def test_weights_of_another_size_name_the_shape(tmp_path):
    make_tiny("diffusion").save(tmp_path / "ckpt")
    make_tiny("diffusion", down_dims=(8, 16), n_groups=4).save(tmp_path / "other")
    (tmp_path / "ckpt" / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="checksum mismatch"):  # config.json's checksum sees it first
        load_policy(tmp_path / "ckpt")
    drop_checksum(tmp_path / "ckpt")  # as a checkpoint saved before checksums: the shapes still give it away
    with pytest.raises(CheckpointError, match="shape") as info:
        load_policy(tmp_path / "ckpt")
    assert "\n" not in str(info.value)
