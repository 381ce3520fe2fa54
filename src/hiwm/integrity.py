"""Checks that a checkpoint loads as what was saved: the weights' checksum, finite weights, config types.

Policies and world models are saved as config.json + model.safetensors. The config records the sha256
of the weights file (``weights_sha256``) when it is saved, and loading verifies it, so a silently changed
weights file is a one-line CheckpointError instead of a model that acts on garbage. Checkpoints saved
before the checksum existed (the shipped assets among them) have none and load unverified. Every loaded
weight must be finite, and every config.json field must have its dataclass field's type: one validator
reads the annotations, so a new field is covered without a special case.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from hiwm.errors import CheckpointError

CHECKSUM_KEY = "weights_sha256"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pop_checksum(config_path: Path, raw: dict) -> str | None:
    """Take ``weights_sha256`` out of a loaded config.json (None for a checkpoint saved before it)."""
    digest = raw.pop(CHECKSUM_KEY, None)
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64
                                   and all(c in "0123456789abcdef" for c in digest)):
        raise CheckpointError(f"{config_path}: '{CHECKSUM_KEY}' must be a sha256 hex string, got {digest!r}")
    return digest


def verify_bytes(weights_path: Path, data: bytes, expected: str | None, config_path: Path) -> None:
    """``data``: the weights file's bytes; ``expected``: the checksum its config recorded (None: not verified)."""
    if expected is None:
        return
    actual = sha256_hex(data)
    if actual != expected:
        raise CheckpointError(f"{weights_path}: checksum mismatch (sha256 {actual[:16]}, {config_path.name} records "
                              f"{expected[:16]}): the weights are corrupt or were changed")


def check_finite(weights_path: Path, tensors: Mapping[str, torch.Tensor]) -> None:
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(f"{weights_path}: tensor {name!r} has {bad} NaN or inf values")


def check_config_types(config_path: Path, cls: type, raw: Mapping[str, Any]) -> None:
    """Every field of dataclass ``cls`` present in ``raw`` (a loaded config.json) has its annotated type."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in raw and not _matches(raw[f.name], hints.get(f.name, Any)):
            raise CheckpointError(f"{config_path}: field '{f.name}' must be {_describe(hints[f.name])}, "
                                  f"got {raw[f.name]!r}")


def _matches(value: Any, tp: Any) -> bool:
    """Does a JSON value fit annotation ``tp``? (lists stand for tuples; unknown annotations pass)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:  # JSON writes 1.0 as 1 when it comes from an int
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if tp is str:
        return isinstance(value, str)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
        return not args or all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and (not args or all(_matches(k, args[0]) and _matches(v, args[1])
                                                            for k, v in value.items()))
    return True


def _describe(tp: Any) -> str:
    if isinstance(tp, type):
        return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, tp.__name__)
    return str(tp).replace("typing.", "")
