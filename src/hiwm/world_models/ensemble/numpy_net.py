"""The ensemble's CPU inference path: the same network as ``EnsembleWorldModel.deltas``, in numpy.

At batch 1 a step is a few dozen tiny array operations, so their count, not their size, sets the speed
(a numpy call costs ~1-3 us, a torch call ~5 us). The weights are rearranged once, at build time, so that
a forward pass is as few calls as possible:

* the input normalisation is folded into the first layer, ``W' = W / std``, ``b' = b - (mean / std) @ W``;
* all members read the same input, so the first layer is one (n_in, E * H) matmul instead of E;
* the output scale is folded into the last layer, ``W' = W * out_std``, ``b' = b * out_std``;
* SiLU is ``x * (0.5 + 0.5 * tanh(x / 2))``: the logistic function without overflow, in numpy alone
  (scipy's ``expit`` is not worth a dependency).

The hidden layers stay one stacked matmul each: at batch 1 they are bound by reading the weights
(5 x 256 x 256 float32 = 1.3 MB per layer, ~30 us on this machine), which no rearrangement avoids.
Outputs equal the torch path to float32 rounding (tests/world_models/test_ensemble.py).
"""

from __future__ import annotations

import numpy as np
import torch


class NumpyEnsemble:
    """feats (B, n_in) float32 -> per-member scene changes (E, B, n_out), in codec units."""

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]], in_mean: torch.Tensor,
                 in_std: torch.Tensor, out_std: torch.Tensor):
        """layers: per layer (weight (E, i, o), bias (E, 1, o)), as in ``EnsembleLinear``."""
        as64 = [(w.detach().double().cpu().numpy(), b.detach().double().cpu().numpy()) for w, b in layers]
        mean, std, o_std = (t.detach().double().cpu().numpy() for t in (in_mean, in_std, out_std))
        (w0, b0), (wl, bl) = as64[0], as64[-1]
        self.members, self.hidden = w0.shape[0], w0.shape[2]
        # folding in float64, then rounding once to float32, keeps the fused weights as exact as the originals
        b0 = b0[:, 0] - np.einsum("i,eio->eo", mean / std, w0)  # (E, H)
        w0 = w0 / std[None, :, None]
        self.w_in = _f32(w0.transpose(1, 0, 2).reshape(w0.shape[1], -1))  # (n_in, E * H)
        self.b_in = _f32(b0.reshape(-1))  # (E * H,)
        self.hidden_layers = [(_f32(w), _f32(b)) for w, b in as64[1:-1]]  # (E, H, H), (E, 1, H)
        self.w_out, self.b_out = _f32(wl * o_std), _f32(bl * o_std)  # (E, H, n_out), (E, 1, n_out)

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        h = feats @ self.w_in + self.b_in  # (B, E * H)
        x = h.reshape(h.shape[0], self.members, self.hidden).transpose(1, 0, 2)  # (E, B, H)
        x = x * (0.5 + 0.5 * np.tanh(0.5 * x))
        for w, b in self.hidden_layers:
            x = np.matmul(x, w) + b
            x = x * (0.5 + 0.5 * np.tanh(0.5 * x))
        return np.matmul(x, self.w_out) + self.b_out


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)
