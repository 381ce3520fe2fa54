"""World-model checkpoints load as saved: weights verified against config.json's sha256, NaN/inf refused,
config fields type-checked against the config dataclass (one line naming the file and the field)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from wm_fixtures import tiny_world_model
from hiwm.errors import CheckpointError
from hiwm.world_models import load_world_model

ASSET = Path(__file__).parents[2] / "src/hiwm/assets/pusht/world_model"


def edit_config(ckpt: Path, **changes) -> None:
    path = ckpt / "config.json"
    raw = {**json.loads(path.read_text()), **changes}
    path.write_text(json.dumps({k: v for k, v in raw.items() if v is not ...}))


def one_line(ckpt: Path, *names: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_world_model(ckpt)
    text = str(info.value)
    assert "\n" not in text and all(n in text for n in names), text
    return text


@pytest.mark.parametrize("kind", ["ensemble", "chain"])
def test_config_records_the_weights_checksum_and_a_changed_byte_is_refused(tmp_path, kind):
    wm = tiny_world_model("rope-route" if kind == "chain" else "pusht", kind=kind)
    ckpt = wm.save(tmp_path / "wm")
    raw = json.loads((ckpt / "config.json").read_text())
    assert raw["weights_sha256"] == hashlib.sha256((ckpt / "model.safetensors").read_bytes()).hexdigest()
    assert load_world_model(ckpt).checkpoint_id() == wm.checkpoint_id()
    weights = bytearray((ckpt / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01  # tensor data: still a valid file, one weight silently different
    (ckpt / "model.safetensors").write_bytes(bytes(weights))
    assert "checksum mismatch" in one_line(ckpt, "model.safetensors")


def test_a_checkpoint_saved_before_checksums_still_loads(tmp_path):
    wm = tiny_world_model("pusht")
    ckpt = wm.save(tmp_path / "wm")
    edit_config(ckpt, weights_sha256=...)
    assert load_world_model(ckpt).checkpoint_id() == wm.checkpoint_id()


def test_the_shipped_world_model_predates_checksums_and_loads():
    assert "weights_sha256" not in json.loads((ASSET / "config.json").read_text())
    assert load_world_model(ASSET).config.hidden == 256


@pytest.mark.parametrize("checksum", [True, False])
def test_non_finite_weights_are_refused(tmp_path, checksum):
    wm = tiny_world_model("pusht")
    name, param = next(iter(wm.named_parameters()))
    with torch.no_grad():
        param.view(-1)[3] = np.nan
    ckpt = wm.save(tmp_path / "wm")
    if not checksum:
        edit_config(ckpt, weights_sha256=...)
    assert "NaN or inf" in one_line(ckpt, "model.safetensors", name)


@pytest.mark.parametrize("field, value", [("hidden", "big"), ("members", 2.5), ("layers", True), ("task", 7),
                                          ("n_hist", None), ("rollout_steps", [8])])
def test_a_wrongly_typed_config_field_is_one_line_naming_it(tmp_path, field, value):
    ckpt = tiny_world_model("pusht").save(tmp_path / "wm")
    edit_config(ckpt, **{field: value})
    assert "must be" in one_line(ckpt, "config.json", f"'{field}'")


def test_chain_fields_are_checked_the_same_way(tmp_path):
    ckpt = tiny_world_model("rope-route", kind="chain").save(tmp_path / "wm")
    edit_config(ckpt, channels="wide")
    one_line(ckpt, "config.json", "'channels'")


@pytest.mark.parametrize("changes, msg", [({"hidden": -3}, "invalid world-model config"),
                                          ({"task": "nope"}, "invalid world-model config"),
                                          ({"type": 5}, "'type'")])
def test_well_typed_but_impossible_configs_are_one_line(tmp_path, changes, msg):
    ckpt = tiny_world_model("pusht").save(tmp_path / "wm")
    edit_config(ckpt, **changes)
    assert msg in one_line(ckpt, "config.json")
