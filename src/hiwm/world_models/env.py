"""The world model behind the same env interfaces as the simulator.

``WorldModelVecEnv`` is the batched interface of tasks/vector.py; ``WorldModelEnv`` is a gymnasium env,
so any gymnasium loop (and any policy) runs inside the model exactly as in the simulator. Initial
observations come from the task's seeded initial scene (the "first camera frame"); after that the
simulator is never called.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from hiwm.tasks.base import IMAGE_KEY, check_action
from hiwm.tasks.vector import GYM_SUCCESS_KEY, add_images, stack_obs
from hiwm.world_models.base import WorldModel, WorldModelState


class WorldModelVecEnv:
    kind = "world_model"

    def __init__(self, world_model: WorldModel, images: bool = False):
        self.wm = world_model
        self.task = world_model.task
        self.images = images
        self.state: WorldModelState | None = None
        self._scenes: np.ndarray | None = None

    def reset(self, seeds: list[int]) -> dict:
        scenes = np.stack([self.task.initial_scene(int(s)) for s in seeds])
        return self.reset_to(scenes)

    def reset_to(self, scenes: np.ndarray) -> dict:
        """Start from given scenes (N, D_scene) at rest (the first frames, when rendered, go to the model too)."""
        obs = self.task.observe_lowdim(scenes)
        if self.images:
            obs = add_images(self.task, obs, scenes)
        self.state = self.wm.initial_state(obs)
        self._scenes = scenes
        return obs

    def step(self, actions: np.ndarray, active: np.ndarray | None = None) -> tuple[dict, dict]:
        """Steps all N states (one batched call costs the same); ``active`` is accepted for the interface."""
        actions = check_action(actions, self.task.spec_)
        self.state, obs, info = self.wm.step(self.state, actions)
        self._scenes = info["scene"]
        info = dict(info)
        info[GYM_SUCCESS_KEY] = info.pop("terminal_success")
        if self.images and IMAGE_KEY not in obs:  # a kind that predicts frames gives its own
            obs = add_images(self.task, obs, self._scenes)
        elif not self.images:
            obs = {k: v for k, v in obs.items() if k != IMAGE_KEY}
        return obs, info

    def scenes(self) -> np.ndarray:
        return self._scenes


class WorldModelEnv(gym.Env):
    """A single-episode gymnasium view of the world model: the policy cannot tell it from the simulator."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, world_model: WorldModel, images: bool = True):
        self.vec = WorldModelVecEnv(world_model, images=images)
        self.task = world_model.task
        spec = self.task.spec_
        self.action_space = gym.spaces.Box(np.array(spec.action_low), np.array(spec.action_high), dtype=np.float64)
        self._steps = 0

    def reset(self, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        obs = self.vec.reset([seed])
        self._steps = 0
        return _first(obs), {"progress": self.task.progress(self.vec.scenes()[0]), "uncertainty": 0.0}

    def step(self, action):
        obs, info = self.vec.step(np.asarray(action, dtype=np.float64)[None])
        self._steps += 1
        info = {k: (v[0].item() if np.ndim(v[0]) == 0 else v[0]) for k, v in info.items()}
        terminated = bool(info[GYM_SUCCESS_KEY])
        truncated = self._steps >= self.task.spec_.max_steps
        return _first(obs), float(info["progress"]), terminated, truncated, info

    def render(self):
        return self.task.render_scene(self.vec.scenes()[0], self.task.spec_.image_size)


def _first(obs: dict) -> dict:
    return {k: v[0] for k, v in obs.items()}


__all__ = ["WorldModelEnv", "WorldModelVecEnv", "IMAGE_KEY", "stack_obs"]
