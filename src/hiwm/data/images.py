"""Camera frames for episodes recorded without them, rendered from their low-dimensional observations.

A task's observation is a pure function of its scene (tasks/base.py: ``observe(scene, images=True)``), and
the scene is recoverable from the low-dimensional observation (``scene_of``). So the image a camera
would have seen at a frame is exactly ``render_scene(scene_of(obs))`` -- what the simulator itself
returns with images on. This lets an image-conditioned policy train on datasets collected without
``--images`` and on Hi-WM corrections and WM-CL rollouts, which record the world model's predicted
low-dimensional state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from hiwm.data.lerobot import LeRobotDataset
from hiwm.errors import HiwmError
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY, Task

log = logging.getLogger(__name__)


def render_frames(task: type[Task], state: np.ndarray, env: np.ndarray, size: int | None = None) -> np.ndarray:
    """state: (T, D_agent), env: (T, D_env) -> (T, S, S, 3) uint8 top-down frames."""
    scenes = task.scene_of({STATE_KEY: np.asarray(state, np.float64), ENV_KEY: np.asarray(env, np.float64)})
    size = size or task.spec_.image_size
    return np.stack([task.render_scene(s, size) for s in scenes]) if len(scenes) else np.zeros((0, size, size, 3), np.uint8)


def _episode_dicts(source) -> list[dict]:
    if isinstance(source, LeRobotDataset):
        return [source.episode(i, decode_images=False) for i in range(source.num_episodes)]
    return [dict(source)]


def with_images(sources: Sequence, task: type[Task], size: int | None = None) -> list:
    """Sources (datasets / episode dicts) -> the same, with ``observation.image`` rendered where missing.

    Sources that already hold images pass through untouched; the others become episode dicts (one per
    episode) with an added (T, S, S, 3) uint8 image column.
    """
    out: list = []
    for src in sources:
        has = IMAGE_KEY in (src.features if isinstance(src, LeRobotDataset) else src)
        if has:
            out.append(src)
            continue
        episodes = _episode_dicts(src)
        for ep in episodes:
            if STATE_KEY not in ep or ENV_KEY not in ep:
                raise HiwmError(f"cannot render {IMAGE_KEY}: an episode has no {STATE_KEY} / {ENV_KEY} to draw from")
            ep[IMAGE_KEY] = render_frames(task, ep[STATE_KEY], ep[ENV_KEY], size)
        where = src.root if isinstance(src, LeRobotDataset) else "an in-memory episode"
        log.info("rendered %d %s frames for %s from its low-dimensional observations",
                 sum(len(ep[IMAGE_KEY]) for ep in episodes), IMAGE_KEY, where)
        out.extend(episodes)
    return out


__all__ = ["render_frames", "with_images"]
