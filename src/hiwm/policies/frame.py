"""Task frames: a policy may see its low-dimensional inputs, and give its actions, in the task's own frame.

A policy trained on a few dozen layouts that are turned and shifted at random must learn that invariance
from them (the rope-route base succeeds 94% on its 80 training layouts, 42% on new ones). In the task's
frame (Route Rope: clip 1 at the origin, clip 2 along +x) every layout looks alike, so it need not.

A task opts in with ``Task.policy_frame(scene) -> (origin (..., 2), direction (..., 2) unit)`` on torch
tensors and ``Task.policy_frame_xy = (scene xy starts, action xy starts)``: the index of every x whose y
follows it. Its scene must be ``observation.state`` followed by ``observation.environment_state`` (the
gripper tasks). Each observation step is expressed in its own frame; an action chunk in the newest step's
(the same frame for tasks whose frame-defining objects do not move, as the clips).
"""

from __future__ import annotations

import numpy as np
import torch

from hiwm.errors import HiwmError
from hiwm.tasks.base import ENV_KEY, STATE_KEY

Frame = tuple[torch.Tensor, torch.Tensor]  # origin (..., 2), unit direction of the frame's x axis (..., 2)


class TaskFrame:
    """The frame of one task, for a policy whose inputs are ``observation.state`` and ``observation.environment_state``."""

    def __init__(self, task: str, agent_dim: int):
        from hiwm.tasks import task_class

        self.task = task_class(task)
        scene_xy, action_xy = self.task.policy_frame_xy
        if not scene_xy:
            raise HiwmError(f"{task}: the task has no policy frame (policy frame must be '' for it)")
        self.agent_dim = agent_dim
        # index tensors built once: the policy calls these every step
        self.scene_xy, self.action_xy = torch.as_tensor(list(scene_xy)), torch.as_tensor(list(action_xy))

    def of(self, state: torch.Tensor, env: torch.Tensor) -> Frame:
        """state (..., Da), env (..., De) in world units -> the frame of each step."""
        return self.task.policy_frame(torch.cat([state, env], dim=-1))

    def observation(self, state: torch.Tensor, env: torch.Tensor, frame: Frame) -> tuple[torch.Tensor, torch.Tensor]:
        """(state, env) in the world -> (state, env) in ``frame`` (broadcast over leading dims)."""
        scene = _apply(torch.cat([state, env], dim=-1), self.scene_xy, frame, inverse=False)
        return scene[..., : self.agent_dim], scene[..., self.agent_dim:]

    def action_to_frame(self, action: torch.Tensor, frame: Frame) -> torch.Tensor:
        """action (..., A) in the world -> in ``frame``."""
        return _apply(action, self.action_xy, frame, inverse=False)

    def action_to_world(self, action: torch.Tensor, frame: Frame) -> torch.Tensor:
        """action (..., A) in ``frame`` -> in the world."""
        return _apply(action, self.action_xy, frame, inverse=True)


def _apply(x: torch.Tensor, starts: torch.Tensor, frame: Frame, inverse: bool) -> torch.Tensor:
    """Rotate and shift the xy pairs of x (..., D) whose x is at the indices ``starts``; origin/direction broadcast."""
    origin, d = frame
    c, s = d[..., 0:1], d[..., 1:2]
    x = x.clone()
    idx = starts.to(x.device)
    px, py = x[..., idx], x[..., idx + 1]
    if inverse:  # frame -> world: rotate by +angle, then shift
        wx, wy = c * px - s * py + origin[..., 0:1], s * px + c * py + origin[..., 1:2]
    else:  # world -> frame: shift, then rotate by -angle
        qx, qy = px - origin[..., 0:1], py - origin[..., 1:2]
        wx, wy = c * qx + s * qy, -s * qx + c * qy
    x[..., idx], x[..., idx + 1] = wx, wy
    return x


def frame_stats(task_frame: TaskFrame, states: np.ndarray, envs: np.ndarray, actions: np.ndarray,
                action_key: str = "action") -> dict:
    """Frames (N, Da), (N, De), (N, A) in the world -> normalisation stats of state, env and action in each
    frame's own task frame: {key: {"min", "max", "mean", "std"}}."""
    st, en, ac = (torch.as_tensor(np.asarray(a), dtype=torch.float64) for a in (states, envs, actions))
    frame = task_frame.of(st, en)
    fs, fe = task_frame.observation(st, en, frame)
    fa = task_frame.action_to_frame(ac, frame)
    out = {}
    for key, arr in ((STATE_KEY, fs), (ENV_KEY, fe), (action_key, fa)):
        a = arr.numpy()
        out[key] = {"min": a.min(0), "max": a.max(0), "mean": a.mean(0), "std": a.std(0)}
    return out


def fit_frame_stats(policy, windows) -> None:
    """For a policy with a task frame, replace its normalisation stats by those of the training frames
    (``windows``: data/windows.py EpisodeWindows) in the task frame; a world-frame policy is left as it is."""
    if policy.task_frame is None:
        return
    policy.set_stats(frame_stats(policy.task_frame, windows.frames(STATE_KEY), windows.frames(ENV_KEY),
                                 windows.frames(windows.action_key), windows.action_key))
