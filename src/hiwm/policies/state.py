"""The policy's acting state: everything it remembers between control steps, held as a value.

The Hi-WM session engine caches one of these in every rollout-tree node, so rolling back or branching
resumes from a stored value; nothing here is ever written in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PolicyState:
    """Everything a policy remembers between steps, as a value.

    obs_history: (B, T, F_low) normalised low-dimensional observations (the policy's non-image input
                 features concatenated in order; F_low = 0 for an image-only policy), T <= n_obs_steps
                 (T = 0 before the first step)
    actions:     (B, n_left, A) raw actions still queued from the last predicted chunk
    count:       steps acted so far
    images:      (B, T, H, W, 3) uint8 raw camera frames, the same T steps as ``obs_history``; None for
                 a policy without image input (and before the first step). Raw pixels rather than
                 features, because the image encoder is trained: cached features would go stale.

    ``act`` never writes into these tensors, so a state held by a rollout-tree node stays valid
    however often it is branched from.
    """

    obs_history: torch.Tensor
    actions: torch.Tensor
    count: int = 0
    images: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.obs_history.shape[0]

    def select(self, index: int | slice | torch.Tensor) -> "PolicyState":
        """The sub-batch at ``index`` (a slice or index tensor keeps the batch dim; an int keeps it too)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        images = None if self.images is None else self.images[index]
        return PolicyState(self.obs_history[index], self.actions[index], self.count, images)

    def to(self, device: torch.device | str) -> "PolicyState":
        images = None if self.images is None else self.images.to(device)
        return PolicyState(self.obs_history.to(device), self.actions.to(device), self.count, images)


def push_history(history: torch.Tensor | None, x: torch.Tensor, length: int) -> torch.Tensor:
    """Append one step and keep the newest ``length``: history (B, T, *D) or None, x (B, *D) -> (B, length, *D).

    Before ``length`` steps exist, the oldest frame stands in for the missing past (as training windows
    repeat an episode's first frame, data/windows.py). ``history`` is not modified.
    """
    step = x[:, None]
    if history is not None and history.shape[1] > 0:
        step = torch.cat([history.to(x.device), step], dim=1)[:, -length:]
    missing = length - step.shape[1]
    if missing > 0:
        step = torch.cat([step[:, :1].expand(-1, missing, *step.shape[2:]), step], dim=1)
    return step
