"""Scene codecs for the gripper tasks (rope-route, towel-fold): the world model sees the scene from the gripper.

A gripper scene is ``[gripper x, y, z, closed | static entries | object points x, y, z ...]`` (metres;
tasks/mujoco_gripper.py); the action is the gripper's absolute target and grasp ``[x, y, z, grasp]``.

* **Where the network looks from.** Flex physics does not care where on the table it happens or which
  way the scene is turned about the vertical, so every horizontal vector is taken relative to the
  gripper and turned into a heading read off the scene (``frame``: the route from clip 1 to clip 2 for
  the rope, which never changes in an episode; the towel's own axis for the towel). Heights stay
  absolute: the table is at z = 0.
* **What it predicts.** The per-step change of every object point, in centimetres in that frame, beyond
  what the robot's own mechanics fix (``_known``). The gripper's move is its controller's (straight
  towards the target, at most ``GRIP_SPEED / fps``); the point it holds moves with it (``held``: with
  the grasp closed, the point nearest the gripper's centre within ``GRASP_RADIUS``, which is the one the
  simulator connects on closing and which stays that close while held); only residuals are learned on
  top (near zero for the gripper; for the held point, how the connection pulls it in). Without this,
  the ensemble's mean blurs "the head is held" with "it is not" and a held head lags behind the
  gripper, so the expert, reading the prediction, lets go. Static entries (the rope's posts) are
  copied; the closed flag is the action's grasp command (the gripper closes or opens when told); and
  no point sinks below the table top (z = 0).
* **Inputs** (for ``n_hist`` = H scenes): the object points relative to the gripper (x, y turned, z
  relative) and their absolute heights; their last H - 1 motions; the gripper's last H - 1 motions,
  its height and its closed flags; the target relative to the gripper, the straight move the gripper
  controller will make towards it this step (at most ``GRIP_SPEED / fps``), the grasp command, which
  point is held (``held``); the static points relative to the gripper.

Every function is batched over leading dims and works on numpy (the fast CPU path) and torch (the
differentiable multi-step loss) through ``ops``.
"""

from __future__ import annotations

import abc

import numpy as np

from hiwm.tasks.mujoco_gripper import GRASP_RADIUS, GRIP_SPEED
from hiwm.tasks.rope import NODES, POSTS
from hiwm.tasks.rope import SPEC as ROPE_SPEC
from hiwm.tasks.towel import SPEC as TOWEL_SPEC
from hiwm.world_models.ensemble.features import SCENE_CODECS, ops


def _turn(v, c, s):
    """Horizontal vectors (..., 2) into the frame whose x axis has heading (c, s) (each (..., 1))."""
    return ops(v).cat([c * v[..., 0:1] + s * v[..., 1:2], -s * v[..., 0:1] + c * v[..., 1:2]], -1)


def _unturn(v, c, s):
    return ops(v).cat([c * v[..., 0:1] - s * v[..., 1:2], s * v[..., 0:1] + c * v[..., 1:2]], -1)


def _heading(u):
    """Unit heading (c, s), each (..., 1), of horizontal vectors u (..., 2); a zero vector gives the x axis."""
    x, y = u[..., 0:1] + 1e-9, u[..., 1:2]
    n = (x * x + y * y) ** 0.5
    return x / n, y / n


class GripperCodec(abc.ABC):
    """See the module docstring. Subclasses set ``scene_dim``, ``STATIC`` and ``POINTS`` (slices of the
    scene), ``STEP`` and ``frame``."""

    action_dim = 4
    scene_dim: int
    STATIC: slice
    POINTS: slice
    STEP: float  # the gripper controller's longest move per control step, m
    POS_SCALE = 0.1     # m -> network units for positions relative to the gripper
    DELTA_SCALE = 0.01  # m -> units for per-step motion (the loss and the targets are in cm)
    HEIGHT_SCALE = 0.05  # m -> units for absolute heights

    def __init__(self, n_hist: int):
        self.n_hist = n_hist
        self.n_pts = (self.POINTS.stop - self.POINTS.start) // 3
        self.n_static = self.STATIC.stop - self.STATIC.start
        p, h = self.n_pts, n_hist
        self.n_in = 5 * p + (h - 1) * (3 * p + 3) + h + 1 + 7 + self.n_static
        self.n_out = 3 + 3 * p

    @abc.abstractmethod
    def frame(self, scene):
        """scene (..., D) -> the heading (c, s) of the network's frame, each (..., 1)."""

    def _points(self, scenes):
        """scenes (..., D) -> object points (..., P, 3)."""
        return scenes[..., self.POINTS].reshape(*scenes.shape[:-1], self.n_pts, 3)

    def inputs(self, scenes, actions, action):
        """scenes (..., H, D), actions (..., H, 4) leading into them, action (..., 4) -> (..., n_in)."""
        xp = ops(scenes)
        lead = scenes.shape[:-2]
        now = scenes[..., -1, :]
        g = now[..., 0:3]
        c, s = self.frame(now)
        cp, sp = c[..., None, :], s[..., None, :]  # broadcast over points
        pts = self._points(now)  # (..., P, 3)
        rel = xp.cat([_turn(pts[..., :2] - g[..., None, :2], cp, sp), pts[..., 2:3] - g[..., None, 2:3]], -1)
        parts = [rel.reshape(*lead, 3 * self.n_pts) / self.POS_SCALE, pts[..., 2] / self.HEIGHT_SCALE]
        if self.n_hist > 1:
            hp = self._points(scenes)  # (..., H, P, 3)
            mv = hp[..., 1:, :, :] - hp[..., :-1, :, :]
            ch, sh = c[..., None, None, :], s[..., None, None, :]
            mv = xp.cat([_turn(mv[..., :2], ch, sh), mv[..., 2:3]], -1)
            gm = scenes[..., 1:, 0:3] - scenes[..., :-1, 0:3]  # (..., H-1, 3)
            gm = xp.cat([_turn(gm[..., :2], cp, sp), gm[..., 2:3]], -1)
            parts += [mv.reshape(*lead, -1) / self.DELTA_SCALE, gm.reshape(*lead, -1) / self.DELTA_SCALE]
        to = action[..., 0:3] - g
        move = self._move(now, action)
        to = xp.cat([_turn(to[..., :2], c, s), to[..., 2:3]], -1)
        move = xp.cat([_turn(move[..., :2], c, s), move[..., 2:3]], -1)
        parts += [scenes[..., :, 3], g[..., 2:3] / self.HEIGHT_SCALE, to / self.POS_SCALE, move / self.DELTA_SCALE,
                  action[..., 3:4], self.held(now, action)]
        if self.n_static:
            st = now[..., self.STATIC].reshape(*lead, self.n_static // 2, 2) - g[..., None, :2]
            parts.append(_turn(st, cp, sp).reshape(*lead, self.n_static) / self.POS_SCALE)
        return xp.cat(parts, -1)

    def _move(self, now, action):
        """The gripper controller's move this step (..., 3): straight towards the target, at most ``STEP``."""
        to = action[..., 0:3] - now[..., 0:3]
        return to * (self.STEP / (ops(to).norm(to) + 1e-9)).clip(None, 1.0)

    def held(self, now, action):
        """(..., P) 1.0 for the point the gripper holds through this step, else 0.0: with the grasp
        command closed, the point nearest the gripper's centre if it lies within ``GRASP_RADIUS`` (when
        closing, the simulator takes that one; once held, a point stays within that radius)."""
        xp = ops(now)
        d = xp.norm(self._points(now) - now[..., None, 0:3])[..., 0]  # (..., P)
        nearest = xp.min_keep(d)
        return xp.as_float((d <= nearest) & (nearest < GRASP_RADIUS) & (action[..., 3:4] >= 0.5), now)

    def _known(self, now, action):
        """The part of this step's motion that is not learned, (..., 1 + P, 3): the gripper's controller
        move, and the same move for the point it holds."""
        move = self._move(now, action)[..., None, :]
        return ops(now).cat([move, self.held(now, action)[..., None] * move], -2)

    def _all_points(self, scene):
        """(..., D) -> gripper then object points (..., 1 + P, 3)."""
        return ops(scene).cat([scene[..., None, 0:3], self._points(scene)], -2)

    def targets(self, now, nxt, action):
        """The change from scene ``now`` to ``nxt`` (..., D) under ``action`` (..., 4), beyond the known
        motion (``_known``), in now's frame -> (..., n_out): the gripper's, then each point's."""
        xp = ops(now)
        c, s = self.frame(now)
        d = self._all_points(nxt) - self._all_points(now) - self._known(now, action)  # (..., 1+P, 3)
        d = xp.cat([_turn(d[..., :2], c[..., None, :], s[..., None, :]), d[..., 2:3]], -1)
        return d.reshape(*now.shape[:-1], self.n_out) / self.DELTA_SCALE

    def apply(self, now, delta, action):
        """Inverse of ``targets``: now (..., D), delta (..., n_out), action (..., 4) (same leading dims)
        -> next scene (..., D). The closed flag is the action's grasp command; static entries are copied;
        object points stay at or above the table top (z >= 0; real ones rest at their radius, 3-6 mm)."""
        xp = ops(now)
        c, s = self.frame(now)
        d = delta.reshape(*delta.shape[:-1], 1 + self.n_pts, 3) * self.DELTA_SCALE
        d = xp.cat([_unturn(d[..., :2], c[..., None, :], s[..., None, :]), d[..., 2:3]], -1)
        moved = self._all_points(now) + self._known(now, action) + d
        closed = xp.as_float(action[..., 3:4] >= 0.5, now)
        pts = xp.cat([moved[..., 1:, :2], moved[..., 1:, 2:3].clip(0.0, None)], -1)  # nothing sinks into the table
        flat = pts.reshape(*moved.shape[:-2], 3 * self.n_pts)
        return xp.cat([moved[..., 0, :], closed, now[..., self.STATIC], flat], -1)

    def points(self, scene):
        """Scene (..., D) -> the points a loss compares, (..., 1 + P, 3): the gripper, then the object's (m)."""
        return self._all_points(scene)

    def spread(self, delta):
        """Ensemble disagreement in metres: per-member changes (E, ..., n_out) -> (...,): the mean over the
        gripper and the object's points of the norm of their per-coordinate std across members."""
        xp = ops(delta)
        pts = delta.reshape(*delta.shape[:-1], 1 + self.n_pts, 3) * self.DELTA_SCALE
        var = pts.var(0) if xp.is_numpy else pts.var(0, correction=0)
        return (var.sum(-1) ** 0.5).mean(-1)

    def rest_action(self, scene):
        """The action that holds the scene still: the gripper's own position and grasp."""
        return scene[..., 0:4]

    def errors(self, pred, true) -> dict:
        """pred, true (N, D) numpy -> per-scene errors (N,) each, in mm: the object's points (mean and
        worst) and the gripper."""
        d = np.linalg.norm(self._points(pred) - self._points(true), axis=-1)
        return {"object_mm": 1000 * d.mean(-1), "worst_point_mm": 1000 * d.max(-1),
                "gripper_mm": 1000 * np.linalg.norm(pred[..., 0:3] - true[..., 0:3], axis=-1)}


@SCENE_CODECS.register("rope-route")
class RopeCodec(GripperCodec):
    """Scene (87,) = gripper (4), posts (8, copied), 25 rope nodes xyz (75); frame: the route's heading."""

    scene_dim = ROPE_SPEC.scene_dim
    STATIC = POSTS
    POINTS = NODES
    STEP = GRIP_SPEED / ROPE_SPEC.fps

    def frame(self, scene):
        return _heading(scene[..., 8:10] + scene[..., 10:12] - scene[..., 4:6] - scene[..., 6:8])


@SCENE_CODECS.register("towel-fold")
class TowelCodec(GripperCodec):
    """Scene (31,) = gripper (4), 3 x 3 keypoints xyz (27); frame: the towel's a axis.

    The a axis is read off the corners as (K20 - K02) + (K22 - K00) (exact for a flat towel; while a
    corner is folded over it turns by up to 45 degrees, still a function of the scene, which is all the
    frame needs to be).
    """

    scene_dim = TOWEL_SPEC.scene_dim
    STATIC = slice(4, 4)
    POINTS = slice(4, TOWEL_SPEC.scene_dim)
    STEP = GRIP_SPEED / TOWEL_SPEC.fps

    def frame(self, scene):
        k = lambda a, b: scene[..., 4 + 3 * (3 * a + b): 4 + 3 * (3 * a + b) + 2]  # noqa: E731
        return _heading(k(2, 0) - k(0, 2) + k(2, 2) - k(0, 0))
