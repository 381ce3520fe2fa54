"""A small pre-LayerNorm transformer with pi0's prefix/suffix attention pattern.

Observation tokens (the prefix) attend only among themselves; action tokens (the suffix) attend to the
prefix and to each other. The prefix therefore never depends on the noisy actions, so it is encoded
once per chunk and its per-layer keys and values are reused by every integration step -- the same
result as one joint pass with a block mask, computed in two parts.

    prefix: (B, L_p, d) -> cache: per layer (k, v), each (B, heads, L_p, d / heads)
    suffix: (B, L_s, d), cache -> (B, L_s, d)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KV = tuple[torch.Tensor, torch.Tensor]


class Block(nn.Module):
    """x: (B, L, d), context: keys/values (B, h, L_c, d_h) of tokens x may also attend to -> (x', (k, v) of x)."""

    def __init__(self, d_model: int, n_heads: int, ff_mult: int, dropout: float):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, ff_mult * d_model), nn.GELU(approximate="tanh"),
                                 nn.Linear(ff_mult * d_model, d_model), nn.Dropout(dropout))

    def _qkv(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, d) -> (3, B, heads, L, d / heads) queries, keys, values."""
        b, n, d = x.shape
        return self.qkv(self.norm1(x)).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)

    def kv(self, x: torch.Tensor) -> KV:
        """The keys and values of x alone (what later tokens attend to), without the rest of the block."""
        _, k, v = self._qkv(x)
        return k, v

    def forward(self, x: torch.Tensor, context: KV | None = None) -> tuple[torch.Tensor, KV]:
        b, n, d = x.shape
        q, k, v = self._qkv(x)
        keys, values = (k, v) if context is None else (torch.cat([context[0], k], 2), torch.cat([context[1], v], 2))
        a = F.scaled_dot_product_attention(q, keys, values, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x)), (k, v)


class PrefixTransformer(nn.Module):
    """``encode_prefix`` once per observation, ``decode`` once per integration step (see the module doc)."""

    def __init__(self, d_model: int, n_heads: int, n_layers: int, ff_mult: int = 4, dropout: float = 0.0):
        super().__init__()
        self.blocks = nn.ModuleList(Block(d_model, n_heads, ff_mult, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def encode_prefix(self, prefix: torch.Tensor) -> list[KV]:
        """prefix: (B, L_p, d) -> per layer the keys/values the suffix attends to at that layer."""
        cache, x = [], prefix
        for block in self.blocks[:-1]:
            x, kv = block(x)
            cache.append(kv)
        cache.append(self.blocks[-1].kv(x))  # the last layer's prefix output is never read
        return cache

    def decode(self, suffix: torch.Tensor, cache: list[KV]) -> torch.Tensor:
        """suffix: (B, L_s, d) attending to itself and the cached prefix -> (B, L_s, d), final LayerNorm applied."""
        x = suffix
        for block, kv in zip(self.blocks, cache):
            x, _ = block(x, context=kv)
        return self.norm(x)
