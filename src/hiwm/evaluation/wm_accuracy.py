"""Open-loop world-model accuracy against horizon, next to the "nothing moves" predictor.

From a start frame of a held-out real episode (with its true history), the model is rolled out with
the episode's true actions for H steps and compared with the recorded scene H steps later.
"""

from __future__ import annotations

import numpy as np
import torch

from hiwm.world_models.base import WMState, WorldModel

HORIZONS = (1, 10, 30, 100)


def _state_at(wm: WorldModel, scenes: np.ndarray, actions: np.ndarray, starts: np.ndarray) -> WMState:
    """True history at each start t: scenes t-h+1..t and the actions into them (episode start at rest)."""
    h = wm.config.n_hist
    hist_s, hist_a = [], []
    rest = np.asarray(wm.codec.rest_action(scenes[:1]))[0]
    for t in starts:
        idx = np.arange(t - h + 1, t + 1)
        hist_s.append(scenes[np.clip(idx, 0, None)])
        hist_a.append(np.stack([actions[i - 1] if i >= 1 else rest for i in idx]))
    return WMState(torch.tensor(np.stack(hist_s), dtype=torch.float32), torch.tensor(np.stack(hist_a), dtype=torch.float32),
                   torch.zeros(len(starts), dtype=torch.long))


def open_loop_errors(wm: WorldModel, episodes: list[tuple[np.ndarray, np.ndarray]], horizons=HORIZONS,
                     starts_per_episode: int = 8, seed: int = 0) -> dict:
    """{H: {"model": {...}, "nothing_moves": {...}}} with median / mean object position error (px),
    angle error (deg) and point error (px, over the agent and the object's points)."""
    rng = np.random.default_rng(seed)
    out = {}
    for H in horizons:
        errs = {"model": [], "nothing_moves": []}
        for scenes, actions in episodes:
            if len(scenes) <= H:
                continue
            starts = rng.integers(0, len(scenes) - H, size=starts_per_episode)
            state = _state_at(wm, scenes, actions, starts)
            for j in range(H):
                state, _, info = wm.step(state, actions[starts + j])
            pred, true, still = info["scene"], scenes[starts + H], scenes[starts]
            errs["model"].append(_errors(wm, pred, true))
            errs["nothing_moves"].append(_errors(wm, still, true))
        out[H] = {k: _summarise(v) for k, v in errs.items() if v}
    return out


def _errors(wm: WorldModel, pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(N, 3): object position error px, angle error deg, mean point error px (Push-T-style scenes)."""
    pos = np.linalg.norm(pred[:, 2:4] - true[:, 2:4], axis=-1)
    ang = np.degrees(np.abs((pred[:, 4] - true[:, 4] + np.pi) % (2 * np.pi) - np.pi))
    pts = np.linalg.norm(wm.codec.points(pred) - wm.codec.points(true), axis=-1).mean(-1)
    return np.stack([pos, ang, pts], axis=-1)


def _summarise(parts: list[np.ndarray]) -> dict:
    e = np.concatenate(parts)
    return {"object_px_median": float(np.median(e[:, 0])), "object_px_mean": float(e[:, 0].mean()),
            "angle_deg_median": float(np.median(e[:, 1])), "points_px_median": float(np.median(e[:, 2])),
            "points_px_mean": float(e[:, 2].mean()), "n": int(len(e))}
