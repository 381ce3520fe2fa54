"""Policy checkpoints load as saved: weights verified against config.json's sha256, NaN/inf refused,
every config field type-checked (one line naming the file and the field); old checkpoints still load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from policy_fixtures import drop_checksum, make_tiny, obs_step
from hiwm.errors import CheckpointError
from hiwm.policies import load_policy

ASSET = Path(__file__).parents[2] / "src/hiwm/assets/pusht/policy"


def flip_last_byte(path: Path) -> None:
    """The last byte is tensor data (the safetensors header comes first): still loads, one weight differs."""
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))


def one_line(ckpt: Path, *names: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_policy(ckpt)
    text = str(info.value)
    assert "\n" not in text and all(n in text for n in names), text
    return text


def test_config_records_the_weights_checksum_and_a_changed_byte_is_refused(policy_type, tmp_path):
    ckpt = make_tiny(policy_type).save(tmp_path / "ckpt")
    raw = json.loads((ckpt / "config.json").read_text())
    assert raw["weights_sha256"] == hashlib.sha256((ckpt / "model.safetensors").read_bytes()).hexdigest()
    load_policy(ckpt)
    flip_last_byte(ckpt / "model.safetensors")
    assert "checksum mismatch" in one_line(ckpt, "model.safetensors")


def test_a_checkpoint_saved_before_checksums_still_loads_and_acts_the_same(policy_type, tmp_path):
    policy = make_tiny(policy_type).eval()
    ckpt = policy.save(tmp_path / "ckpt")
    drop_checksum(ckpt)
    loaded = load_policy(ckpt)
    obs = loaded.input_tensors(obs_step(1))
    a = policy.act(policy.initial_state(1), obs, torch.Generator().manual_seed(0))[0]
    b = loaded.act(loaded.initial_state(1), obs, torch.Generator().manual_seed(0))[0]
    assert torch.equal(a, b)


def test_the_shipped_policy_predates_checksums_and_loads():
    assert "weights_sha256" not in json.loads((ASSET / "config.json").read_text())
    assert load_policy(ASSET).config.type == "diffusion"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("checksum", [True, False])
def test_non_finite_weights_are_refused(policy_type, tmp_path, bad, checksum):
    policy = make_tiny(policy_type)
    name, param = next(iter(policy.named_parameters()))
    with torch.no_grad():
        param.view(-1)[0] = bad
    ckpt = policy.save(tmp_path / "ckpt")  # a training run that diverged, saved with a valid checksum
    if not checksum:
        drop_checksum(ckpt)
    assert "NaN or inf" in one_line(ckpt, "model.safetensors", name)


BAD_FIELDS = {
    "horizon": "16", "n_obs_steps": 2.5, "clip_sample": 1, "crop_fraction": "0.9",
    "input_features": "observation.state", "feature_dims": {"observation.state": "2"}, "device": None, "image_size": True,
}


@pytest.mark.parametrize("field", list(BAD_FIELDS))
def test_a_wrongly_typed_config_field_is_one_line_naming_it(tmp_path, field):
    ckpt = make_tiny("diffusion").save(tmp_path / "ckpt")
    path = ckpt / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), field: BAD_FIELDS[field]}))
    assert "must be" in one_line(ckpt, "config.json", f"'{field}'")


@pytest.mark.parametrize("field, value", [("down_dims", "big"), ("down_dims", [16, "32"]), ("beta_schedule", 3)])
def test_backbone_fields_are_checked_the_same_way(tmp_path, field, value):
    ckpt = make_tiny("diffusion").save(tmp_path / "ckpt")
    path = ckpt / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), field: value}))
    one_line(ckpt, "config.json", f"'{field}'")


def test_a_malformed_checksum_is_one_line(tmp_path):
    ckpt = make_tiny("diffusion").save(tmp_path / "ckpt")
    path = ckpt / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "weights_sha256": "abc"}))
    one_line(ckpt, "config.json", "'weights_sha256'")
