"""Episode videos as animated GIFs (Pillow only: no ffmpeg binary to install)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_gif(frames: list[np.ndarray], path: str | Path, fps: int = 10) -> Path:
    """frames: (H, W, 3) uint8 each -> an animated GIF at ``fps``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def episode_gif(task, scenes: np.ndarray, path: str | Path, size: int = 192) -> Path:
    """Render a recorded episode's scenes (T, D_scene) with the task's renderer."""
    return write_gif([task.render_scene(s, size) for s in scenes], path, fps=task.spec_.fps)
