"""Test-only stand-in for a gripper task's world-model codec, so the studio's gripper path runs before the
real codecs (world_models/ensemble/features.py) exist.

``RawCodec`` is the plainest valid scene codec: the network sees the raw scene history, the actions that
led into it and the new action; it predicts the change of the scene. ``with_raw_codec(monkeypatch, task)``
registers it for ``task`` for one test, so ``builtin_world_model(task)`` and saved checkpoints work exactly
as they will with a real codec.
"""

from __future__ import annotations

import numpy as np

from hiwm.tasks import task_class
from hiwm.world_models.ensemble.features import SCENE_CODECS, ops

GRIPPER_TASKS = ("rope-route", "towel-fold")


def raw_codec(task: str) -> type:
    spec = task_class(task).spec_

    class RawCodec:
        scene_dim, action_dim = spec.scene_dim, spec.action_dim
        DELTA_SCALE = 1.0

        def __init__(self, n_hist: int):
            self.n_hist = n_hist
            self.n_in = n_hist * (self.scene_dim + self.action_dim) + self.action_dim
            self.n_out = self.scene_dim

        def inputs(self, scenes, actions, action):
            """(..., H, D), (..., H, A), (..., A) -> (..., n_in)."""
            lead = scenes.shape[:-2]
            return ops(scenes).cat([scenes.reshape(*lead, -1), actions.reshape(*lead, -1), action], -1)

        def targets(self, now, nxt, action):
            return nxt - now

        def apply(self, now, delta, action):
            return now + delta

        def points(self, scene):
            return scene[..., None, :]

        def spread(self, delta):
            var = delta.var(0) if isinstance(delta, np.ndarray) else delta.var(0, correction=0)
            return var.sum(-1) ** 0.5

        def rest_action(self, scene):
            return scene[..., : self.action_dim]  # the gripper's [x, y, z, closed] holds it still

    return RawCodec


def with_raw_codec(monkeypatch, task: str) -> None:
    """Register RawCodec for ``task`` for the rest of the test (replacing a real one if it exists)."""
    monkeypatch.setitem(SCENE_CODECS._entries, task, raw_codec(task))
