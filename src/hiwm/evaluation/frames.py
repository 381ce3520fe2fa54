"""Frame fidelity of a pixel world model on held-out episodes, actions replayed open loop.

From a start frame of a recorded episode (with its true history), the model is rolled out on the episode's
true actions for H steps; its frame is compared with the camera frame H steps later by PSNR and SSIM, next to
the copy-the-last-frame predictor (the start frame itself). Frames are what the simulator's camera shows:
``render_scene`` of the recorded scene.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

HORIZONS = (1, 10, 30, 100)


def psnr(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) uint8 frames -> (N,) PSNR in dB (capped at 60 for identical frames)."""
    mse = ((pred.astype(np.float64) - true.astype(np.float64)) ** 2).mean((1, 2, 3))
    return np.minimum(10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12)), 60.0)


def ssim(pred: np.ndarray, true: np.ndarray, window: int = 7, sigma: float = 1.5) -> np.ndarray:
    """(N, S, S, 3) uint8 frames -> (N,) mean SSIM over pixels and channels (Gaussian window, the usual constants)."""
    x, y = (torch.as_tensor(a, dtype=torch.float64).permute(0, 3, 1, 2) / 255.0 for a in (pred, true))
    g = torch.exp(-((torch.arange(window, dtype=torch.float64) - window // 2) ** 2) / (2 * sigma ** 2))
    k = (g[:, None] * g[None]) / g.sum() ** 2
    k = k.expand(3, 1, window, window)
    blur = lambda t: F.conv2d(t, k, groups=3)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean((1, 2, 3)).numpy()


def frame_fidelity(wm, episodes: list[tuple[np.ndarray, np.ndarray]], horizons=HORIZONS, starts_per_episode: int = 8,
                   seed: int = 0, strip_episode: int | None = 0) -> dict:
    """episodes: [(scenes (T, D_scene), actions (T, A))] -> {H: {"model": {psnr_median, ssim_median, ...},
    "copy_last": {...}, "n"}} and, when ``strip_episode`` names one, "strip": (real (H+1, S, S, 3), predicted)
    frames of that episode from its first frame, for the report's picture."""
    rng = np.random.default_rng(seed)
    size = wm.config.image_size
    out: dict = {}
    for H in horizons:
        model, copy = {"psnr": [], "ssim": []}, {"psnr": [], "ssim": []}
        for scenes, actions in episodes:
            if len(scenes) <= H:
                continue
            n = len(scenes) - H
            starts = np.sort(rng.choice(n, size=min(starts_per_episode, n), replace=False))
            state = wm.state_at(scenes, actions, starts)
            for j in range(H):
                state, _, _ = wm.step(state, actions[starts + j], judge=False)
            pred = wm.frame(state)
            real = np.stack([wm.task.render_scene(s, size) for s in scenes[starts + H]])
            last = np.stack([wm.task.render_scene(s, size) for s in scenes[starts]])
            for out_, frames in ((model, pred), (copy, last)):
                out_["psnr"].append(psnr(frames, real))
                out_["ssim"].append(ssim(frames, real))
        if not model["psnr"]:
            continue
        out[H] = {name: {f"{k}_median": float(np.median(np.concatenate(v))) for k, v in d.items()} |
                  {f"{k}_mean": float(np.mean(np.concatenate(v))) for k, v in d.items()}
                  for name, d in (("model", model), ("copy_last", copy))}
        out[H]["n"] = int(sum(len(p) for p in model["psnr"]))
    if strip_episode is not None:
        out["strip"] = frame_strip(wm, *episodes[strip_episode], max(horizons))
    return out


def frame_strip(wm, scenes: np.ndarray, actions: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The episode from its first frame, open loop: (real (T, S, S, 3), predicted (T, S, S, 3)), T <= steps + 1."""
    size = wm.config.image_size
    T = min(steps, len(scenes) - 1)
    state = wm.state_at(scenes, actions, np.array([0]))
    pred = [wm.frame(state)[0]]
    for j in range(T):
        state, _, _ = wm.step(state, actions[j:j + 1], judge=False)
        pred.append(wm.frame(state)[0])
    real = np.stack([wm.task.render_scene(s, size) for s in scenes[:T + 1]])
    return real, np.stack(pred)
