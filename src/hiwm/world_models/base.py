"""The functional world-model interface: the model's state is a value you hold.

    state = wm.initial_state(obs)                       # obs: dict of (B, D) arrays [+ (B, H, W, 3) frames]
    state, pred_obs, info = wm.step(state, action)      # action: (B, A)
    model, summary = WorldModelClass.fit(config, datasets, train_cfg)   # or fit_world_model (training.py)

A state is an opaque, immutable value of the model kind's ``state_class`` (see ``WorldModelState``); ``step``
never mutates its input, so a rollout tree can keep states in its nodes: rolling back is picking a node,
branching is stepping from it. Nothing about a rollout lives inside the model object (which is what lets
one model serve many branches and many sessions).
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, TypeVar, runtime_checkable

import numpy as np
import torch
from safetensors.torch import load, save

from hiwm.errors import CheckpointError, HiwmError
from hiwm.integrity import (
    CHECKSUM_KEY,
    check_config_types,
    check_finite,
    pop_checksum,
    sha256_hex,
    verify_bytes,
)
from hiwm.registry import Registry

if TYPE_CHECKING:  # annotations only: the data and training layers are not needed to step a model
    from hiwm.data.lerobot import LeRobotDataset
    from hiwm.training import TrainConfig

log = logging.getLogger(__name__)

WORLD_MODELS: Registry = Registry("world model")


S = TypeVar("S", bound="TensorState")


@runtime_checkable
class WorldModelState(Protocol):
    """What the session, the rollout tree, the session log, export and evaluation may do with a world-model
    state; everything else about it belongs to the model kind that made it.

    A state is a frozen dataclass whose fields are tensors with the batch on axis 0, shaped (B, ...) (or
    plain numbers, or None), so the session log stores it exactly with ``session.records.encode_value`` and
    reads it back with ``decode_value(type(wm).state_class, ...)``. A field's axis 1, when it has one, may
    grow along a rollout (a history); the sizes past axis 1 are fixed by the model's config.
    """

    @property
    def batch_size(self) -> int:
        """B."""

    def index(self, i: int | slice | torch.Tensor) -> Self:
        """Batch entries ``i`` (an int keeps the batch axis: B = 1)."""

    @classmethod
    def cat(cls, states: list[Self]) -> Self:
        """States of batch B_1 ... B_n -> one state of batch sum(B_i), in order."""

    def nbytes(self) -> int:
        """Bytes held by the state's tensors (what a node of the rollout tree costs)."""


@dataclass(frozen=True)
class TensorState:
    """``WorldModelState`` for a frozen dataclass of tensors, each (B, ...): subclass it and declare fields."""

    @property
    def batch_size(self) -> int:
        return getattr(self, fields(self)[0].name).shape[0]

    def index(self, i: int | slice | torch.Tensor) -> Self:
        if isinstance(i, int):
            i = slice(i, i + 1)
        return type(self)(*(getattr(self, f.name)[i] for f in fields(self)))

    @classmethod
    def cat(cls, states: list[Self]) -> Self:
        return cls(*(torch.cat([getattr(s, f.name) for s in states]) for f in fields(cls)))

    def nbytes(self) -> int:
        return sum(getattr(self, f.name).element_size() * getattr(self, f.name).nelement() for f in fields(self))


@dataclass(frozen=True)
class WMState(TensorState):
    """The scene-vector kinds' state (ensemble, chain; the simulator's holds snapshots in ``scenes``).

    scenes:  (B, n_hist, D_scene) the most recent scenes, oldest first; ``scenes[:, -1]`` is now.
    actions: (B, n_hist, A) the action that led into each of those scenes (at rest: the agent's
             own position, i.e. "hold still").
    t:       (B,) steps taken since the initial observation.
    """

    scenes: torch.Tensor
    actions: torch.Tensor
    t: torch.Tensor


@dataclass
class WorldModelConfig:
    type: str = "ensemble"
    task: str = "pusht"

    def to_dict(self) -> dict:
        return asdict(self)


class WorldModel(torch.nn.Module, abc.ABC):
    """Action-conditioned dynamics with a per-step uncertainty; what it models a scene with is the kind's own.

    A kind declares ``config_class`` (registered by name in ``WORLD_MODELS``), ``state_class`` (its
    ``WorldModelState``) and ``fit`` (how it is trained from recorded datasets).
    """

    config: WorldModelConfig
    config_class: ClassVar[type[WorldModelConfig]]
    state_class: ClassVar[type[WorldModelState]]

    @classmethod
    @abc.abstractmethod
    def fit(cls, config: WorldModelConfig, datasets: list[LeRobotDataset], train_cfg: TrainConfig,
            progress: bool = True) -> tuple[WorldModel, dict]:
        """Build a model of this kind for ``config`` (initial weights from ``train_cfg.seed``) and train it on
        ``datasets`` (their episodes in order) -> (model in eval mode, summary with at least ``final_loss``).
        The same datasets and seed give bit-identical weights."""

    @abc.abstractmethod
    def initial_state(self, obs: dict) -> WorldModelState:
        """obs (one time step) -> a ``state_class`` value at rest at that observation, batch B.

        obs: ``observation.state`` (B, D_agent) and ``observation.environment_state`` (B, D_env) arrays, and
        maybe ``observation.image`` (B, H, W, 3) uint8 camera frames. A kind that does not read frames ignores
        them; one that needs a frame and gets none renders it from the observation's scene
        (``task.render_scene``), as the session does for a policy that takes images.
        """

    @abc.abstractmethod
    def step(self, state: WorldModelState, action, judge: bool = True) -> tuple[WorldModelState, dict, dict]:
        """action (B, A) -> (next state, predicted obs, info).

        predicted obs: ``observation.state`` (B, D_agent), ``observation.environment_state`` (B, D_env)
        arrays, and ``observation.image`` (B, H, W, 3) uint8 when the kind predicts frames.
        info: ``scene`` (B, D_scene), ``uncertainty`` (B,) (ensemble disagreement; 0 for the simulator), and,
        from the task's success judge on the predicted scene (``task.judge_batch``, the same test as the
        simulator's), ``progress`` (B,), ``is_success`` (B,) bool, ``terminal_success`` (B,) bool.
        ``judge=False`` leaves those three out: the dynamics alone, for callers that judge later or never (the
        judge is ~10-20% of a batch-1 step).
        """

    def frame(self, state: WorldModelState) -> np.ndarray | None:
        """The camera frame (B, S, S, 3) uint8 this model predicts for ``state``; None for a kind that does not
        model pixels (a frame is then drawn from its predicted scene)."""
        return None

    def observation_for_seed(self, seed: int) -> dict:
        """The first observation of ``seed``'s initial state (the "first camera frame"): (D,) arrays."""
        return self.task.observe(self.task.initial_scene(int(seed)))

    # ---- checkpoints: config.json + model.safetensors, nothing pickled ----
    def checkpoint_id(self) -> str:
        """A short content hash of the weights: the provenance tag on every imagined frame."""
        if getattr(self, "_ckpt_id", None) is None:
            h = hashlib.sha256()
            for k, v in sorted(self.state_dict().items()):
                h.update(k.encode())
                h.update(v.detach().cpu().numpy().tobytes())
            self._ckpt_id = h.hexdigest()[:12]
        return self._ckpt_id

    def save(self, directory: str | os.PathLike) -> Path:
        """config.json (with the weights' sha256, see hiwm.integrity) + model.safetensors, each via a rename."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        blob = save({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()})
        tmp = d / "model.safetensors.tmp"
        tmp.write_bytes(blob)
        os.replace(tmp, d / "model.safetensors")
        tmp = d / "config.json.tmp"
        tmp.write_text(json.dumps({**self.config.to_dict(), CHECKSUM_KEY: sha256_hex(blob)}, indent=2))
        os.replace(tmp, d / "config.json")
        return d


def load_world_model(directory: str | os.PathLike, device: str = "cpu") -> WorldModel:
    """Load a world model saved by ``WorldModel.save``; resolves its type through the registry."""
    d = Path(directory)
    cfg_path, weights = d / "config.json", d / "model.safetensors"
    for p in (cfg_path, weights):
        if not p.is_file():
            raise CheckpointError(f"world-model checkpoint file missing: {p}")
    try:
        raw = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"world-model config is not valid JSON: {cfg_path} ({e})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise CheckpointError(f"world-model config has no 'type' string: {cfg_path}")
    checksum = pop_checksum(cfg_path, raw)
    cls = WORLD_MODELS.get(raw["type"])
    cfg_cls = cls.config_class
    check_config_types(cfg_path, cfg_cls, raw)
    known = {f.name for f in fields(cfg_cls)}
    try:
        cfg = cfg_cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in raw.items() if k in known})
        model = cls(cfg)
    except (HiwmError, TypeError, ValueError, RuntimeError) as e:  # e.g. a negative size
        why = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{cfg_path}: invalid world-model config ({why})") from None
    data = weights.read_bytes()
    verify_bytes(weights, data, checksum, cfg_path)
    try:
        tensors = load(data)
    except Exception as e:  # safetensors raises several types for truncated/corrupt files
        raise CheckpointError(f"world-model weights are corrupt: {weights} ({type(e).__name__})") from None
    check_finite(weights, tensors)
    missing = set(model.state_dict()) - set(tensors)
    if missing:
        raise CheckpointError(f"world-model weights lack {sorted(missing)[:3]}...: {weights}")
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise CheckpointError(f"world-model weights do not fit the config ({str(e).splitlines()[0]}): {weights}") from None
    return model.to(device).eval()


def replace_state(state: S, **changes) -> S:
    return replace(state, **changes)


def to_numpy_obs(obs: dict) -> dict:
    return {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)) for k, v in obs.items()}
