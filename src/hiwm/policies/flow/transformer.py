"""A small pre-LayerNorm transformer with pi0's prefix/suffix attention pattern.

Observation tokens (the prefix) attend only among themselves; action tokens (the suffix) attend to the
prefix and to each other (with ``causal_suffix``, action i only to actions <= i, as in Diffusion
Policy's transformer). The prefix therefore never depends on the noisy actions, so it is encoded
once per chunk and its per-layer keys and values are reused by every integration step -- the same
result as one joint pass with a block mask, computed in two parts.

    prefix: (B, L_p, d) -> cache: per layer (k, v), each (B, heads, L_p, d / heads)
    suffix: (B, L_s, d), cache, cond: (B, d) or None -> (B, L_s, d)

With ``adaptive=True`` the suffix's norms are modulated by a conditioning vector (pi0.5's adaptive norm,
DiT's adaLN-Zero): each block turns ``cond`` into a shift, scale and gate for its attention and MLP
branches, zero-initialised so every block starts as the identity. The prefix is never modulated, so its
cache stays independent of the flow time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KV = tuple[torch.Tensor, torch.Tensor]


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x: (B, L, d), shift/scale: (B, d) -> x * (1 + scale) + shift, per sample."""
    return x * (1 + scale[:, None]) + shift[:, None]


def causal_mask(n: int, n_context: int, device: torch.device) -> torch.Tensor:
    """(n, n_context + n) bool: each of n tokens sees all the context and the tokens up to itself (built once
    per decode, shared by every block)."""
    mask = torch.ones(n, n_context + n, dtype=torch.bool, device=device)
    mask[:, n_context:] = torch.tril(mask[:, n_context:])
    return mask


class Block(nn.Module):
    """x: (B, L, d), context: keys/values (B, h, L_c, d_h) of tokens x may also attend to, cond: (B, d) for
    an adaptive block -> (x', (k, v) of x)."""

    def __init__(self, d_model: int, n_heads: int, ff_mult: int, dropout: float, adaptive: bool = False):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, ff_mult * d_model), nn.GELU(approximate="tanh"),
                                 nn.Linear(ff_mult * d_model, d_model), nn.Dropout(dropout))
        self.modulation = None
        if adaptive:  # cond -> shift, scale, gate for attention and for the MLP
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(d_model, 6 * d_model))
            nn.init.zeros_(self.modulation[1].weight)
            nn.init.zeros_(self.modulation[1].bias)

    def _qkv(self, h: torch.Tensor) -> torch.Tensor:
        """(B, L, d) normed tokens -> (3, B, heads, L, d / heads) queries, keys, values."""
        b, n, d = h.shape
        return self.qkv(h).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)

    def kv(self, x: torch.Tensor) -> KV:
        """The keys and values of (unmodulated) x alone, what later tokens attend to, without the rest of the block."""
        _, k, v = self._qkv(self.norm1(x))
        return k, v

    def forward(self, x: torch.Tensor, context: KV | None = None, cond: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, KV]:
        """``mask``: (L, L_c + L) bool, True where a token of x may attend (None: everywhere)."""
        b, n, d = x.shape
        mod = None
        if self.modulation is not None and cond is not None:
            mod = self.modulation(cond).chunk(6, dim=-1)  # 6 x (B, d)
        h = self.norm1(x) if mod is None else _modulate(self.norm1(x), mod[0], mod[1])
        q, k, v = self._qkv(h)
        keys, values = (k, v) if context is None else (torch.cat([context[0], k], 2), torch.cat([context[1], v], 2))
        a = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        a = self.proj(a.transpose(1, 2).reshape(b, n, d))
        if mod is None:
            x = x + a
            return x + self.mlp(self.norm2(x)), (k, v)
        x = x + mod[2][:, None] * a
        return x + mod[5][:, None] * self.mlp(_modulate(self.norm2(x), mod[3], mod[4])), (k, v)


class PrefixTransformer(nn.Module):
    """``encode_prefix`` once per observation, ``decode`` once per integration step (see the module doc)."""

    def __init__(self, d_model: int, n_heads: int, n_layers: int, ff_mult: int = 4, dropout: float = 0.0,
                 adaptive: bool = False, causal_suffix: bool = False):
        super().__init__()
        self.causal_suffix = causal_suffix
        self.blocks = nn.ModuleList(Block(d_model, n_heads, ff_mult, dropout, adaptive) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.final_modulation = None
        if adaptive:
            self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d_model, 2 * d_model))
            nn.init.zeros_(self.final_modulation[1].weight)
            nn.init.zeros_(self.final_modulation[1].bias)

    def encode_prefix(self, prefix: torch.Tensor) -> list[KV]:
        """prefix: (B, L_p, d) -> per layer the keys/values the suffix attends to at that layer."""
        cache, x = [], prefix
        for block in self.blocks[:-1]:
            x, kv = block(x)
            cache.append(kv)
        cache.append(self.blocks[-1].kv(x))  # the last layer's prefix output is never read
        return cache

    def decode(self, suffix: torch.Tensor, cache: list[KV], cond: torch.Tensor | None = None) -> torch.Tensor:
        """suffix: (B, L_s, d) attending to itself and the cached prefix, cond: (B, d) for an adaptive
        transformer -> (B, L_s, d), final (modulated) LayerNorm applied."""
        x = suffix
        mask = causal_mask(suffix.shape[1], cache[0][0].shape[2], suffix.device) if self.causal_suffix else None
        for block, kv in zip(self.blocks, cache):
            x, _ = block(x, context=kv, cond=cond, mask=mask)
        if self.final_modulation is None or cond is None:
            return self.norm(x)
        shift, scale = self.final_modulation(cond).chunk(2, dim=-1)
        return _modulate(self.norm(x), shift, scale)
