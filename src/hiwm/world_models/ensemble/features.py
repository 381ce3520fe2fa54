"""Per-task encodings of (scene history, action) into network inputs and of scene changes into targets.

Why a task-specific frame: pushing physics does not care where on the table it happens or how the T is
turned, so expressing everything in the T's own frame lets one small network learn one contact model
instead of one per pose (a measured probe: median block error at 10 steps ~30 px on raw coordinates,
~7 px in the T's frame). The workspace position is still given, for the walls.

Every codec offers ``inputs``, ``targets``, ``apply`` (the inverse of ``targets``), ``points`` (what the
loss compares), ``spread`` (ensemble disagreement in scene units), ``rest_action`` and ``errors`` (the
accuracy report's measures). The gripper tasks' codecs are in gripper.py.

All functions are batched over any leading dims and work on torch tensors (differentiable: the
multi-step loss backpropagates through them) and on numpy arrays (the fast CPU inference path: tiny
numpy ops cost ~1 us against ~5 us for torch, which decides batch-1 stepping speed).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hiwm.registry import Registry
from hiwm.tasks.pusht import T_KEYPOINTS, WORKSPACE

SCENE_CODECS: Registry = Registry("world-model scene codec")


class _Np:
    cos, sin, remainder = np.cos, np.sin, np.remainder
    is_numpy = True

    @staticmethod
    def norm(x):
        """(..., K) -> Euclidean norm over the last dim, kept: (..., 1)."""
        return np.sqrt((x * x).sum(-1, keepdims=True))

    @staticmethod
    def as_float(mask, like):
        return mask.astype(like.dtype)

    @staticmethod
    def min_keep(x):
        """(..., K) -> minimum over the last dim, kept: (..., 1)."""
        return x.min(-1, keepdims=True)

    @staticmethod
    def stack(xs, axis):
        """np.stack without its Python-level checks (~3 us of a batch-1 step each); the arrays here match."""
        if axis >= 0:
            return np.stack(xs, axis=axis)
        idx = (Ellipsis, None) + (slice(None),) * (-axis - 1)
        return np.concatenate([x[idx] for x in xs], axis=axis)

    @staticmethod
    def cat(xs, axis):
        return np.concatenate(xs, axis=axis)


class _Torch:
    cos, sin, remainder = torch.cos, torch.sin, torch.remainder
    is_numpy = False

    @staticmethod
    def norm(x):
        return torch.sqrt((x * x).sum(-1, keepdim=True))

    @staticmethod
    def as_float(mask, like):
        return mask.to(like.dtype)

    @staticmethod
    def min_keep(x):
        return x.min(-1, keepdim=True).values

    @staticmethod
    def stack(xs, axis):
        return torch.stack(xs, dim=axis)

    @staticmethod
    def cat(xs, axis):
        return torch.cat(xs, dim=axis)


def ops(x):
    """The array namespace of ``x`` (numpy or torch)."""
    return _Np if isinstance(x, np.ndarray) else _Torch


def _to_body(v, c, s):
    """Rotate world vectors (..., 2) by -angle into the body frame."""
    return ops(v).stack([c * v[..., 0] + s * v[..., 1], c * v[..., 1] - s * v[..., 0]], -1)


def wrap(a):
    return ops(a).remainder(a + math.pi, 2 * math.pi) - math.pi


def _points_map(kp: np.ndarray, scale: float) -> np.ndarray:
    """The (6, 18) map from ``[agent dx, dy, T dx, dy, cos a, sin a]`` to the agent and the keypoints ``kp`` (8, 2)
    after that move, ``(x0, y0, x1, y1, ...)``: the agent moves by ``scale * (dx, dy)``; keypoint k goes to
    ``scale * (T dx, dy) + R(a) kp[k]``."""
    m = np.zeros((6, 9, 2))
    m[0, 0, 0] = m[1, 0, 1] = scale
    m[2, 1:, 0] = m[3, 1:, 1] = scale
    m[4, 1:, 0], m[4, 1:, 1] = kp[:, 0], kp[:, 1]  # cos a * (kx, ky)
    m[5, 1:, 0], m[5, 1:, 1] = -kp[:, 1], kp[:, 0]  # sin a * (-ky, kx)
    return m.reshape(6, 18)


@SCENE_CODECS.register("pusht")
class PushTCodec:
    """Scene (5,) = [agent xy, block xy, block angle]; action (2,) = pusher target."""

    scene_dim = 5
    action_dim = 2
    POS_SCALE = 100.0  # px -> network units for positions relative to the T
    DELTA_SCALE = 10.0  # px -> units for per-step motion

    def __init__(self, n_hist: int):
        self.n_hist = n_hist
        self.n_in = 2 + 4 * n_hist + 3 * (n_hist - 1) + 4
        self.n_out = 5
        self._kp = {np: T_KEYPOINTS.astype(np.float32), torch: torch.tensor(T_KEYPOINTS, dtype=torch.float32)}
        pmap = _points_map(T_KEYPOINTS, self.DELTA_SCALE)
        self._spread_map = {np: pmap.astype(np.float32), torch: torch.tensor(pmap, dtype=torch.float32)}

    def inputs(self, scenes, actions, action):
        """scenes (..., H, 5), actions (..., H, 2) leading into them, action (..., 2) -> (..., n_in).

        Every relative vector is rotated in one go (a handful of array ops whatever H is: at batch 1
        the number of ops, not their size, sets the world model's speed).
        """
        xp = ops(scenes)
        h = self.n_hist
        now = scenes[..., -1, :]
        b, th = now[..., 2:4], now[..., 4]
        c, s = xp.cos(th)[..., None], xp.sin(th)[..., None]
        # (..., 1 + 2H + (H - 1), 2): action, then per step the pusher and its action, then past T positions
        vec = xp.cat([action[..., None, :], xp.stack([scenes[..., 0:2], actions], -2).reshape(*scenes.shape[:-2], 2 * h, 2),
                      scenes[..., : h - 1, 2:4]], -2) - b[..., None, :]
        body = _to_body(vec, c, s)
        n_pos = 1 + 2 * h
        pos = body[..., :n_pos, :].reshape(*body.shape[:-2], 2 * n_pos) / self.POS_SCALE
        past = body[..., n_pos:, :] / self.DELTA_SCALE  # (..., H - 1, 2)
        dang = wrap(scenes[..., : h - 1, 4:5] - th[..., None, None]) * 10.0
        past = xp.cat([past, dang], -1).reshape(*body.shape[:-2], 3 * (h - 1))
        return xp.cat([pos, past, b / (WORKSPACE / 2) - 1.0, s, c], -1)

    def targets(self, now, nxt, action):
        """The change from scene ``now`` to ``nxt`` (..., 5) in now's T frame -> (..., 5) (``action`` unused)."""
        xp = ops(now)
        c, s = xp.cos(now[..., 4]), xp.sin(now[..., 4])
        da = _to_body(nxt[..., 0:2] - now[..., 0:2], c, s)
        db = _to_body(nxt[..., 2:4] - now[..., 2:4], c, s)
        dth = wrap(nxt[..., 4:5] - now[..., 4:5])
        return xp.cat([da / self.DELTA_SCALE, db / self.DELTA_SCALE, dth * 10.0], -1)

    def apply(self, now, delta, action):
        """Inverse of ``targets``: now (..., 5), delta (..., 5) -> next scene (..., 5) (``action`` unused).

        The agent's and the T's moves are rotated together, as a (..., 2, 2) array (fewer calls at batch 1).
        """
        xp = ops(now)
        c, s = xp.cos(now[..., 4:5]), xp.sin(now[..., 4:5])
        d = delta[..., 0:4] * self.DELTA_SCALE
        dx, dy = d[..., 0::2], d[..., 1::2]  # (..., 2) each: [agent, T]
        moved = xp.stack([c * dx - s * dy, s * dx + c * dy], -1)  # (..., 2, 2): [agent, T] x [x, y]
        xy = now[..., 0:4] + moved.reshape(*moved.shape[:-2], 4)
        return xp.cat([xy, wrap(now[..., 4:5] + delta[..., 4:5] / 10.0)], -1)

    def points(self, scene):
        """Scene (..., 5) -> the points a loss compares, (..., 9, 2): agent + the T's 8 keypoints (px)."""
        xp = ops(scene)
        kp = self._kp[np] if xp is _Np else self._kp[torch].to(scene)
        c, s = xp.cos(scene[..., 4])[..., None], xp.sin(scene[..., 4])[..., None]
        x = kp[:, 0] * c - kp[:, 1] * s + scene[..., 2:3]
        y = kp[:, 0] * s + kp[:, 1] * c + scene[..., 3:4]
        return xp.cat([scene[..., None, 0:2], xp.stack([x, y], -1)], -2)

    def spread(self, delta):
        """Ensemble disagreement in px: per-member changes (E, ..., 5) -> (...,).

        The mean over the agent and the T's 8 keypoints of the norm of their per-coordinate std across
        members. That norm is rotation invariant, so it is computed in the current T frame without
        applying each member's change to the scene. The 9 points are linear in
        ``[agent dx, dy, T dx, dy, cos, sin of the T's turn]``, so one matmul by a fixed (6, 18) map places
        them all, and centring those 6 numbers across members centres the points.
        """
        xp = ops(delta)
        pmap = self._spread_map[np] if xp is _Np else self._spread_map[torch].to(delta)
        ang = delta[..., 4:5] / 10.0
        f = xp.cat([delta[..., 0:4], xp.cos(ang), xp.sin(ang)], -1)  # (E, ..., 6)
        e = f.shape[0]  # sums / e rather than .mean(): the same numbers, without numpy's Python-level mean
        dev = (f - f.sum(0) / e) @ pmap  # (E, ..., 18): each point's offset from the members' mean
        var = (dev * dev).sum(0) / e  # (..., 18)
        return (var.reshape(*var.shape[:-1], 9, 2).sum(-1) ** 0.5).sum(-1) / 9

    def rest_action(self, scene):
        """The action that holds the scene still: the pusher's own position."""
        return scene[..., 0:2]

    def errors(self, pred, true) -> dict:
        """pred, true (N, 5) numpy -> per-scene errors (N,) each: the T's position (px) and angle (deg), and
        the mean over the agent and the T's keypoints (px)."""
        return {"object_px": np.linalg.norm(pred[:, 2:4] - true[:, 2:4], axis=-1),
                "angle_deg": np.degrees(np.abs(wrap(pred[:, 4] - true[:, 4]))),
                "points_px": np.linalg.norm(self.points(pred) - self.points(true), axis=-1).mean(-1)}
