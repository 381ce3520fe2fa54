"""The shared observation path: image preprocessing and augmentation, image encoders, the acting state."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from policy_fixtures import IMAGE, make_tiny, obs_step, train_batch
from hiwm.policies import IMAGE_ENCODERS, PolicyState, load_policy
from hiwm.policies.observation import ObservationEncoder, crop_size, prepare_images
from hiwm.policies.state import push_history
from hiwm.session.store import decode_value, encode_value


def ramp_images(n: int, size: int) -> torch.Tensor:
    """(n, size, size, 3) uint8 whose pixel value encodes its (row, col): crops are identifiable."""
    r = torch.arange(size)[:, None].expand(size, size)
    c = torch.arange(size)[None, :].expand(size, size)
    img = torch.stack([r * 10, c * 10, torch.full_like(r, 128)], dim=-1).clamp(0, 255).to(torch.uint8)
    return img[None].expand(n, -1, -1, -1).contiguous()


def test_centre_crop_when_acting_random_crop_when_training():
    images = ramp_images(64, 12)
    centre = prepare_images(images, size=12, crop=8, augment=False)
    assert centre.shape == (64, 3, 8, 8) and centre.min() >= -1 and centre.max() <= 1
    top_left = centre[:, 0, 0, 0], centre[:, 1, 0, 0]  # row / col of the crop's corner, scaled
    assert torch.allclose(top_left[0], torch.full((64,), 2 * 10 / 127.5 - 1))  # (12 - 8) // 2 = row 2
    torch.manual_seed(0)
    rand = prepare_images(images, size=12, crop=8, augment=True)
    rows = ((rand[:, 0, 0, 0] + 1) * 127.5 / 10).round().long()
    cols = ((rand[:, 1, 0, 0] + 1) * 127.5 / 10).round().long()
    assert rows.min() >= 0 and rows.max() <= 4 and len(set(zip(rows.tolist(), cols.tolist()))) > 8
    # Each crop is a contiguous window of its image, shifted as a whole.
    r0, c0 = rows[0].item(), cols[0].item()
    torch.testing.assert_close(rand[0], prepare_images(images[:1], 12, 12, False)[0, :, r0:r0 + 8, c0:c0 + 8])


def test_images_are_resized_to_image_size():
    big = ramp_images(2, 24)
    out = prepare_images(big, size=12, crop=12, augment=False)
    assert out.shape == (2, 3, 12, 12)
    assert crop_size(96, 0.875) == 84 and crop_size(12, 1.0) == 12 and crop_size(4, 0.01) == 1


@pytest.mark.parametrize("name", IMAGE_ENCODERS.names())
def test_every_image_encoder_maps_frames_to_features(name):
    torch.manual_seed(0)
    enc = IMAGE_ENCODERS.get(name)(out_dim=10, width=8)
    x = torch.rand(3, 3, 40, 40) * 2 - 1
    out = enc(x)
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in enc.parameters())
    # Different frames give different features (the encoder is not degenerate at init).
    assert not torch.allclose(out[0], out[1])


def test_encoder_output_is_lowdim_then_image_features():
    enc = ObservationEncoder([IMAGE, "observation.state"], lowdim_dim=2, image_size=12, crop_fraction=0.75,
                             image_features=5, image_width=4)
    low = torch.randn(4, 2, 2)
    out = enc(low, ramp_images(8, 12).reshape(4, 2, 12, 12, 3), augment=False)
    assert out.shape == (4, 2, 7) and enc.out_dim == 7
    torch.testing.assert_close(out[..., :2], low)
    lowdim_only = ObservationEncoder(["observation.state"], lowdim_dim=2)
    assert lowdim_only(low, None) is low and not list(lowdim_only.parameters())


def test_training_mode_augments_and_eval_mode_does_not(policy_type):
    """forward() crops at random while training (two calls differ) and in the centre otherwise (equal)."""
    policy = make_tiny(policy_type, "image")
    lowdim, images, _ = policy._read_obs(train_batch(policy, 8, obs_kind="image"), time_dim=True)
    torch.manual_seed(0)
    feats = {mode: [policy.obs_encoder(lowdim, images, augment=mode == "train") for _ in range(2)]
             for mode in ("train", "eval")}
    assert not torch.equal(*feats["train"]) and torch.equal(*feats["eval"])
    seen = []
    forward = policy.obs_encoder.forward
    policy.obs_encoder.forward = lambda lo, im, augment=False: seen.append(augment) or forward(lo, im, augment)
    for mode in ("train", "eval"):
        getattr(policy, mode)()
        policy(train_batch(policy, 2, obs_kind="image"))
        policy.predict_action_chunk({IMAGE: images[:2]}, torch.Generator().manual_seed(0))
    assert seen == [True, False, False, False]  # only a training-mode loss augments


def test_push_history_pads_with_the_oldest_and_keeps_the_newest():
    x = [torch.full((2, 1), float(i)) for i in range(4)]
    h = push_history(None, x[0], 3)
    assert h[:, :, 0].tolist() == [[0, 0, 0]] * 2
    h = push_history(torch.zeros(2, 0, 1), x[0], 3)
    assert h.shape == (2, 3, 1)
    for i in range(1, 4):
        h = push_history(h, x[i], 3)
    assert h[0, :, 0].tolist() == [1, 2, 3]


def test_policy_state_with_images_survives_the_session_log_and_old_logs_still_load():
    policy = make_tiny("flow", "both")
    _, state = policy.act(policy.initial_state(2), obs_step(2, obs_kind="both"), torch.Generator().manual_seed(0))
    record = encode_value(state)
    back = decode_value(PolicyState, record)
    assert back.images.dtype == torch.uint8 and torch.equal(back.images, state.images)
    assert torch.equal(back.obs_history, state.obs_history) and back.count == state.count
    old = {k: v for k, v in encode_value(state.select(0)).items() if k != "images"}  # a log from before images
    assert decode_value(PolicyState, old).images is None
    assert [f.name for f in dataclasses.fields(PolicyState)][:3] == ["obs_history", "actions", "count"]


def test_the_shipped_lowdim_checkpoint_still_loads():
    from pathlib import Path

    import hiwm

    policy = load_policy(Path(hiwm.__file__).parent / "assets" / "pusht" / "policy")
    assert not policy.config.uses_images and not any(k.startswith("obs_encoder") for k in policy.state_dict())
    obs = {"observation.state": np.array([[100.0, 200.0]], np.float32),
           "observation.environment_state": np.full((1, 16), 250.0, np.float32)}
    action = policy.select_action(obs, torch.Generator().manual_seed(0))
    assert action.shape == (1, 2) and torch.isfinite(action).all()
