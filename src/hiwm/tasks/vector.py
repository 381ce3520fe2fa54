"""Batched envs: one interface for N simulators and for a world model rolling out N states at once.

    env.reset(seeds) -> obs           obs: dict of (N, D) arrays (plus (N, S, S, 3) images if asked)
    env.step(actions) -> obs, info    actions (N, A); info: progress (N,), is_success (N,),
                                      terminal_success (N,), uncertainty (N,) (0 for a simulator)
    env.images = True                 ask for ``observation.image`` from the next reset on (the runner
                                      sets it from the policy's input features)

The evaluation runner drives either one without knowing which (world_models/env.py has the model's).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from hiwm.tasks.base import IMAGE_KEY, Task, check_action
from hiwm.tasks.registry import TASKS

GYM_SUCCESS_KEY = "terminal_success"


class VecEnv(Protocol):
    task: type[Task]
    kind: str  # "sim" or "world_model"
    images: bool  # observations carry IMAGE_KEY (N, S, S, 3) uint8 from the next reset on

    def reset(self, seeds: list[int]) -> dict: ...

    def step(self, actions: np.ndarray, active: np.ndarray | None = None) -> tuple[dict, dict]: ...


def stack_obs(obs_list: list[dict]) -> dict:
    return {k: np.stack([o[k] for o in obs_list]) for k in obs_list[0]}


class SimVecEnv:
    """N independent simulators stepped in turn (the physics is single-threaded anyway)."""

    kind = "sim"

    def __init__(self, task_name: str, images: bool = False):
        self.task = TASKS.get(task_name)
        self.images = images
        self.envs: list[Task] = []

    def reset(self, seeds: list[int]) -> dict:
        while len(self.envs) < len(seeds):
            self.envs.append(self.task(images=self.images))
        self.envs = self.envs[: len(seeds)]
        for env in self.envs:
            env.images = self.images  # the flag may have changed since the env was built
        self._last = [env.reset(seed=int(s)) for env, s in zip(self.envs, seeds)]
        return stack_obs([o for o, _ in self._last])

    def step(self, actions: np.ndarray, active: np.ndarray | None = None) -> tuple[dict, dict]:
        """``active`` (N,) bool: envs left out keep their state (finished episodes cost nothing)."""
        actions = check_action(actions, self.task.spec_)
        obs, infos = [], []
        for i, (env, a) in enumerate(zip(self.envs, actions)):
            if active is None or active[i]:
                o, _, _, _, info = env.step(a)
                self._last[i] = (o, info)
            o, info = self._last[i]
            obs.append(o)
            infos.append(info)
        info = {k: np.array([i[k] for i in infos]) for k in ("progress", "is_success", GYM_SUCCESS_KEY)}
        info["uncertainty"] = np.zeros(len(self.envs))
        return stack_obs(obs), info

    def scenes(self) -> np.ndarray:
        return np.stack([env.scene() for env in self.envs])


def add_images(task: type[Task], obs: dict, scenes: np.ndarray) -> dict:
    """Render (N, D_scene) scenes into obs[IMAGE_KEY] (N, S, S, 3)."""
    obs = dict(obs)
    obs[IMAGE_KEY] = np.stack([task.render_scene(s, task.spec_.image_size) for s in scenes])
    return obs
