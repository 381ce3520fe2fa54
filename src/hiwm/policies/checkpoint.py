"""Policy checkpoints: a directory with config.json (type + config) and model.safetensors.

Nothing is unpickled: the type name in config.json is resolved through the POLICIES registry, the
config dataclass is rebuilt from plain JSON (each field checked against its annotated type), and the
weights (normalisation statistics included) are loaded from safetensors, verified against the sha256
config.json records for them (checkpoints saved before that record none) and refused if not finite
(see hiwm.integrity). Every failure is a one-line CheckpointError naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load, save

from hiwm.errors import CheckpointError, HiwmError
from hiwm.integrity import CHECKSUM_KEY, check_config_types, check_finite, pop_checksum, sha256_hex, verify_bytes
from hiwm.policies.base import Policy
from hiwm.policies.registry import POLICIES

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _atomic_write(path: Path, write) -> None:
    """write(tmp_path) then rename, so a crash never leaves a half-written file under the real name."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_policy(policy: Policy, directory: str | Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # safetensors wants contiguous tensors that own no shared storage; clone to be safe.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in policy.state_dict().items()}
    blob = save(tensors, metadata={"type": policy.config.type})
    # Weights first: config.json is written last, so its presence means the checkpoint is complete.
    _atomic_write(directory / WEIGHTS_NAME, lambda p: p.write_bytes(blob))
    text = json.dumps({**policy.config.to_dict(), CHECKSUM_KEY: sha256_hex(blob)}, indent=2, sort_keys=True)
    _atomic_write(directory / CONFIG_NAME, lambda p: p.write_text(text + "\n"))
    return directory


def _read_config(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path}: policy config not found")
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not a readable JSON config ({_one_line(err)})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise CheckpointError(f"{path}: config has no policy 'type' string")
    return raw


def _check_weights(path: Path, loaded: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    missing = sorted(set(expected) - set(loaded))
    unexpected = sorted(set(loaded) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors missing {missing[:5]}, unexpected {unexpected[:5]} (of {len(missing)}/{len(unexpected)})")
    for key, ref in expected.items():
        if loaded[key].shape != ref.shape:
            raise CheckpointError(f"{path}: tensor {key!r} has shape {tuple(loaded[key].shape)}, config implies {tuple(ref.shape)}")


def load_policy(directory: str | Path, device: str = "cpu") -> Policy:
    """Rebuild a saved policy on ``device``. Unknown type -> HiwmError; anything wrong on disk -> CheckpointError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: policy checkpoint directory not found")
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    raw = _read_config(config_path)
    checksum = pop_checksum(config_path, raw)
    policy_cls = POLICIES.get(raw["type"])  # unknown type: HiwmError listing the known ones
    check_config_types(config_path, policy_cls.config_class, raw)
    try:
        config = policy_cls.config_class.from_dict(raw)
        config.device = device
        policy = policy_cls(config)
    except (HiwmError, TypeError, ValueError) as err:
        raise CheckpointError(f"{config_path}: invalid config ({_one_line(err)})") from None
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: policy weights not found")
    data = weights_path.read_bytes()
    verify_bytes(weights_path, data, checksum, config_path)
    try:
        loaded = load(data)
    except Exception as err:  # safetensors raises its own error types for truncated or garbled files
        raise CheckpointError(f"{weights_path}: unreadable safetensors file ({_one_line(err)})") from None
    _check_weights(weights_path, loaded, policy.state_dict())
    check_finite(weights_path, loaded)
    policy.load_state_dict(loaded, strict=True)
    return policy.to(device).eval()  # a loaded checkpoint acts; the training loop switches to train mode itself
