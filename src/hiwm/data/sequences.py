"""Scene sequences for world-model training: windows of (history + K future) scenes with their actions.

Frame convention (as in the datasets): frame t holds the observation o_t and the action a_t taken
there, so the scene after a_t is frame t+1's. Episodes start at rest, so the history before frame 0
is frame 0 itself with the "hold still" action.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


class SequenceSampler:
    """Samples (B, n_hist + K, D) scene windows and the (B, n_hist + K, A) actions leading into them.

    episodes: list of (scenes (T, D), actions (T, A)); rest_action maps scenes (N, D) -> (N, A).
    Windows never cross an episode boundary; an episode shorter than n_hist + K contributes nothing.
    """

    def __init__(self, episodes: list[tuple[np.ndarray, np.ndarray]], n_hist: int, k: int,
                 rest_action: Callable[[np.ndarray], np.ndarray]):
        self.n_hist, self.k = n_hist, k
        scenes, into, starts = [], [], []
        offset = 0
        for sc, ac in episodes:
            sc, ac = np.asarray(sc, np.float32), np.asarray(ac, np.float32)
            rest = np.asarray(rest_action(sc[:1]), np.float32)
            s_pad = np.concatenate([np.repeat(sc[:1], n_hist - 1, 0), sc])
            a_pad = np.concatenate([np.repeat(rest, n_hist, 0), ac[:-1]])  # action leading into each scene
            n_windows = len(s_pad) - (n_hist + k) + 1
            if n_windows > 0:
                starts.append(offset + np.arange(n_windows))
            scenes.append(s_pad)
            into.append(a_pad)
            offset += len(s_pad)
        if not starts:
            raise ValueError(f"no episode is long enough for windows of {n_hist + k} steps")
        self.scenes = torch.from_numpy(np.concatenate(scenes))
        self.actions = torch.from_numpy(np.concatenate(into))
        self.starts = torch.from_numpy(np.concatenate(starts))
        self._offsets = torch.arange(n_hist + k)

    def __len__(self) -> int:
        return len(self.starts)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        pick = torch.randint(len(self.starts), (batch_size,), generator=generator)
        idx = self.starts[pick][:, None] + self._offsets
        return {"scenes": self.scenes[idx], "actions": self.actions[idx]}
