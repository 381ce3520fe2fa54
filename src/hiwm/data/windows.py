"""Training windows for policies: observation history plus an action chunk, sampled from memory.

A window starts at frame t of an episode:

    obs[k]         (B, n_obs_steps, *D_k)  frames t-n_obs_steps+1 .. t, repeating frame 0 before the start
    action         (B, horizon, A)          actions t .. t+horizon-1, repeating the last action past the end
    action_is_pad  (B, horizon) bool        True where the action is padding (or masked out, see below)

With ``mask_key`` (e.g. ``"intervention"``) only frames where the mask is True may start a window, and
action positions whose frame is not masked True are padding, so the loss sees only corrected actions
while the observation history keeps the context that led to the correction.

All frames are held as contiguous arrays (low-dim features float32, images uint8), and a batch is a
handful of numpy gathers, so sampling costs well under a millisecond per 256 windows. Image keys are
returned as uint8 (B, n_obs_steps, H, W, 3): converting to float on the model's device is cheaper than
shipping 4x the bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np
import torch

from hiwm.data.lerobot import LeRobotDataset
from hiwm.errors import HiwmError

EpisodeSource = Union[LeRobotDataset, Mapping[str, np.ndarray]]


class EpisodeWindows:
    """Windows over the episodes of one or more datasets and/or in-memory episode dicts."""

    def __init__(self, sources: EpisodeSource | Sequence[EpisodeSource], obs_keys: Sequence[str],
                 n_obs_steps: int = 2, horizon: int = 16, action_key: str = "action", mask_key: str | None = None):
        if n_obs_steps < 1 or horizon < 1:
            raise HiwmError(f"n_obs_steps and horizon must be >= 1, got {n_obs_steps} and {horizon}")
        if isinstance(sources, (LeRobotDataset, Mapping)):
            sources = [sources]
        if not sources:
            raise HiwmError("EpisodeWindows needs at least one dataset or episode")
        self.obs_keys, self.n_obs_steps, self.horizon = tuple(obs_keys), n_obs_steps, horizon
        self.action_key, self.mask_key = action_key, mask_key
        keys = [*self.obs_keys, action_key] + ([mask_key] if mask_key else [])
        parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        lengths: list[int] = []
        for src in sources:
            cols, lens = _load(src, keys)
            for k in keys:
                parts[k].append(cols[k])
            lengths += lens
        arrays = {k: _concat(k, v) for k, v in parts.items()}
        self._obs = {k: _as_frames(k, arrays[k]) for k in self.obs_keys}
        self._action = _as_frames(action_key, arrays[action_key])
        if self._action.dtype != np.float32:
            raise HiwmError(f"action key '{action_key}' must be numeric, not an image")
        self._mask = arrays[mask_key].astype(bool).reshape(-1) if mask_key else None

        # Per frame: the global index of its episode's first and last frame.
        lens = np.asarray(lengths, dtype=np.int64)
        if len(lens) == 0 or lens.sum() != len(self._action):
            raise HiwmError("episode lengths do not add up to the number of frames")
        ends = np.cumsum(lens)
        self._ep_first = np.repeat(ends - lens, lens)
        self._ep_last = np.repeat(ends - 1, lens)
        self._starts = np.flatnonzero(self._mask) if self._mask is not None else np.arange(len(self._action))
        if len(self._starts) == 0:
            raise HiwmError(f"no frame has '{mask_key}' True: nothing to train on")
        self._obs_offsets = np.arange(-n_obs_steps + 1, 1, dtype=np.int64)
        self._act_offsets = np.arange(horizon, dtype=np.int64)
        self.num_episodes = len(lens)

    def __len__(self) -> int:
        """Number of eligible window start frames."""
        return len(self._starts)

    def frames(self, key: str) -> np.ndarray:
        """Every frame of an observation key or the action key, (N, ...), in source order."""
        return self._action if key == self.action_key else self._obs[key]

    @property
    def num_frames(self) -> int:
        return len(self._action)

    @property
    def action_dim(self) -> int:
        return self._action.shape[1]

    @property
    def obs_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-frame shape of each observation key, e.g. (D,) or (H, W, 3)."""
        return {k: v.shape[1:] for k, v in self._obs.items()}

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``batch_size`` windows with uniformly drawn start frames (see module doc for shapes)."""
        pick = torch.randint(len(self._starts), (batch_size,), generator=generator).numpy()
        return self.windows(self._starts[pick])

    def windows(self, t: np.ndarray) -> dict[str, torch.Tensor]:
        """The windows starting at global frame indices ``t`` (B,)."""
        t = np.asarray(t, dtype=np.int64)
        obs_idx = np.maximum(t[:, None] + self._obs_offsets, self._ep_first[t][:, None])  # (B, n_obs)
        raw = t[:, None] + self._act_offsets  # (B, horizon)
        last = self._ep_last[t][:, None]
        pad = raw > last
        act_idx = np.minimum(raw, last)
        if self._mask is not None:
            pad |= ~self._mask[act_idx]
        batch = {k: torch.from_numpy(v[obs_idx]) for k, v in self._obs.items()}
        batch["action"] = torch.from_numpy(self._action[act_idx])
        batch["action_is_pad"] = torch.from_numpy(pad)
        return batch


class WindowMixture:
    """Draws each window's source with the given weights, e.g. 50% base demos, 50% corrections."""

    def __init__(self, sources: Sequence[EpisodeWindows], weights: Sequence[float]):
        if len(sources) == 0 or len(sources) != len(weights):
            raise HiwmError(f"need one weight per source, got {len(sources)} sources and {len(weights)} weights")
        w = torch.as_tensor(weights, dtype=torch.float64)
        if not torch.all(torch.isfinite(w)) or torch.any(w < 0) or w.sum() <= 0:
            raise HiwmError(f"mixture weights must be non-negative with a positive sum, got {list(weights)}")
        ref = sources[0]
        for s in sources[1:]:
            layout = (s.obs_shapes, s.action_dim, s.n_obs_steps, s.horizon)
            if layout != (ref.obs_shapes, ref.action_dim, ref.n_obs_steps, ref.horizon):
                raise HiwmError("all mixture sources need the same obs keys/shapes, action dim, n_obs_steps and horizon")
        self.sources, self.weights = list(sources), w / w.sum()

    obs_keys = property(lambda self: self.sources[0].obs_keys)
    obs_shapes = property(lambda self: self.sources[0].obs_shapes)
    action_dim = property(lambda self: self.sources[0].action_dim)
    n_obs_steps = property(lambda self: self.sources[0].n_obs_steps)
    horizon = property(lambda self: self.sources[0].horizon)

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Same keys and shapes as ``EpisodeWindows.sample``; rows are grouped by source."""
        which = torch.multinomial(self.weights, batch_size, replacement=True, generator=generator)
        counts = torch.bincount(which, minlength=len(self.sources)).tolist()
        parts = [s.sample(n, generator) for s, n in zip(self.sources, counts) if n > 0]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def _load(src: EpisodeSource, keys: list[str]) -> tuple[dict[str, np.ndarray], list[int]]:
    """One source -> (columns over all its frames, episode lengths)."""
    if isinstance(src, LeRobotDataset):
        missing = [k for k in keys if k not in src.features]
        if missing:
            raise HiwmError(f"{src.root}: no features {missing}")
        cols = {k: src.column(k, decode_images=True) for k in keys}
        return cols, [e["length"] for e in src.episodes]
    missing = [k for k in keys if k not in src]
    if missing:
        raise HiwmError(f"episode has no columns {missing}")
    cols = {k: np.asarray(src[k]) for k in keys}
    T = len(cols[keys[0]])
    if T == 0 or any(len(v) != T for v in cols.values()):
        lengths = {k: len(v) for k, v in cols.items()}
        raise HiwmError(f"episode columns must be non-empty and of equal length, got {lengths}")
    return cols, [T]


def _concat(key: str, parts: list[np.ndarray]) -> np.ndarray:
    shapes = {p.shape[1:] for p in parts}
    if len(shapes) > 1:
        raise HiwmError(f"'{key}' has different shapes across sources: {sorted(shapes)}")
    return np.concatenate(parts)


def _as_frames(key: str, arr: np.ndarray) -> np.ndarray:
    """(N,) -> (N, 1) float32; vectors -> float32; images (N, H, W, 3) uint8 stay uint8."""
    if arr.dtype == np.uint8 and arr.ndim == 4:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind not in "biuf":
        raise HiwmError(f"'{key}' must be numeric to be trained on, got {arr.dtype}")
    arr = arr.reshape(len(arr), -1) if arr.ndim != 2 else arr
    return np.ascontiguousarray(arr, dtype=np.float32)
