"""Flow-matching transformer policy in the style of pi0's action expert, trained from scratch.

Conventions (pi0): t = 1 is pure noise and t = 0 the action chunk,

    x_t = t * noise + (1 - t) * actions,    target velocity u = dx_t / dt = noise - actions,

with training times t ~ Beta(1.5, 1) scaled into [0.001, 1] (more weight on noisy t). At inference the
chunk is integrated from x_1 = noise (drawn from the caller's generator) to t = 0 with Euler steps
x <- x + dt * v(x, t), dt = -1 / num_inference_steps.

Tokens: one per observation step (the encoded features (B, T_obs, F) projected to d_model, plus a
learned position), then one per action of the noisy chunk (the action projected to d_model plus a learned
position; with ``conditioning="tokens"`` concatenated with a sinusoidal embedding of t and mixed by an MLP,
otherwise t -- and with "adaptive" the flattened observations -- modulate every action-token block).
Observation tokens see only each other; action tokens see everything (flow/transformer.py), so the
observation part is encoded once per chunk and reused by every integration step.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from hiwm.policies.base import Policy, initial_noise, masked_mse
from hiwm.policies.flow.configuration import FlowConfig
from hiwm.policies.flow.transformer import KV, PrefixTransformer
from hiwm.policies.registry import POLICIES

# What the observation part contributes to every integration step: the prefix cache, the modulating vector.
ObsContext = tuple[list[KV], torch.Tensor | None]

# Periods of the time embedding's sinusoids, log-spaced (pi0's choice for t in [0, 1]).
MIN_PERIOD, MAX_PERIOD = 4e-3, 4.0


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """t: (B,) in [0, 1] -> (B, dim) sines and cosines at periods log-spaced in [MIN_PERIOD, MAX_PERIOD]."""
    frac = torch.linspace(0.0, 1.0, dim // 2, device=t.device, dtype=torch.float32)
    period = MIN_PERIOD * (MAX_PERIOD / MIN_PERIOD) ** frac
    angles = (2 * math.pi / period)[None] * t.float()[:, None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


@POLICIES.register("flow")
class FlowPolicy(Policy):
    config_class = FlowConfig

    def __init__(self, config: FlowConfig):
        super().__init__(config)
        self.config: FlowConfig = config
        d = config.d_model
        adaptive = config.conditioning != "tokens"
        self.obs_cond: nn.Module | None = None
        self.obs_in = nn.Linear(config.obs_dim, d)
        self.obs_pos = nn.Parameter(0.02 * torch.randn(1, config.n_obs_steps, d))
        self.action_in = nn.Linear(config.action_dim, d)
        if adaptive:  # the time (and observation) vector that modulates every action-token block
            self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
            if config.conditioning == "adaptive":
                self.obs_cond = nn.Sequential(nn.Linear(config.n_obs_steps * config.obs_dim, d), nn.SiLU(), nn.Linear(d, d))
        else:
            self.action_time_mlp = nn.Sequential(nn.Linear(2 * d, d), nn.SiLU(), nn.Linear(d, d))
        self.action_pos = nn.Parameter(0.02 * torch.randn(1, config.horizon, d))
        self.transformer = PrefixTransformer(d, config.n_heads, config.n_layers, config.ff_mult, config.dropout, adaptive,
                                              config.causal_actions)
        self.action_out = nn.Linear(d, config.action_dim)
        self.to(config.device)

    def encode_observations(self, obs: torch.Tensor) -> ObsContext:
        """obs: (B, T_obs, F) features -> (the transformer's per-layer cache of the observation tokens, the
        observation part of the modulating vector (B, d) or None): what every integration step reuses."""
        cache = self.transformer.encode_prefix(self.obs_in(obs) + self.obs_pos)
        obs_cond = self.obs_cond(obs.flatten(1)) if self.obs_cond is not None else None
        return cache, obs_cond

    def network(self, x_t: torch.Tensor, t: torch.Tensor, context: ObsContext) -> torch.Tensor:
        """x_t: (B, H, A) noisy chunk, t: (B,) times, context from ``encode_observations`` -> (B, H, A): the
        velocity or the clean chunk, as ``prediction_type`` says."""
        cache, obs_cond = context
        h = self.action_in(x_t)  # (B, H, d)
        tau = time_embedding(t, h.shape[-1]).to(h.dtype)  # (B, d)
        if self.config.conditioning == "tokens":
            tokens = self.action_time_mlp(torch.cat([h, tau[:, None].expand_as(h)], dim=-1)) + self.action_pos
            return self.action_out(self.transformer.decode(tokens, cache))
        cond = self.time_mlp(tau) + (obs_cond if obs_cond is not None else 0.0)
        return self.action_out(self.transformer.decode(h + self.action_pos, cache, cond))

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, context: ObsContext) -> torch.Tensor:
        """x_t: (B, H, A), t: (B,), context -> the velocity v: (B, H, A) that integration follows."""
        out = self.network(x_t, t, context)
        if self.config.prediction_type == "sample":  # x_t = t * noise + (1 - t) * a  =>  v = (x_t - a) / t
            return (x_t - out) / t[:, None, None].clamp_min(1e-3)
        return out

    def sample_time(self, batch: int, device: torch.device) -> torch.Tensor:
        """(batch,) training times in [time_min, 1] from the Beta distribution (torch's global RNG)."""
        cfg = self.config
        beta = torch.distributions.Beta(torch.tensor(cfg.time_beta_alpha, device=device),
                                        torch.tensor(cfg.time_beta_beta, device=device))
        return beta.sample((batch,)) * (1.0 - cfg.time_min) + cfg.time_min

    def compute_loss(
        self, obs: torch.Tensor, action: torch.Tensor, action_is_pad: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """obs: (B, T_obs, F), action: (B, H, A), action_is_pad: (B, H) -> masked MSE of the velocity (or of
        the clean chunk, with ``prediction_type`` "sample").

        Noise and times come from torch's global RNG, which the training loop seeds.
        """
        noise = torch.randn_like(action)
        t = self.sample_time(action.shape[0], action.device)
        tb = t[:, None, None]
        x_t = tb * noise + (1 - tb) * action
        pred = self.network(x_t, t, self.encode_observations(obs))
        target = action if self.config.prediction_type == "sample" else noise - action
        loss = masked_mse(pred, target, action_is_pad)
        return loss, {"loss": loss.detach()}

    @torch.inference_mode()
    def generate(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """obs: (B, T_obs, F) features -> (B, horizon, A) normalised actions, Euler-integrated from t = 1 to 0.

        The initial noise is drawn on the generator's device then moved, so a CPU generator gives the
        same actions whether the model runs on CPU or CUDA (up to float arithmetic).
        """
        cfg = self.config
        b = obs.shape[0]
        x = initial_noise((b, cfg.horizon, cfg.action_dim), generator, obs.device)
        context = self.encode_observations(obs)
        dt = -1.0 / cfg.num_inference_steps
        for i in range(cfg.num_inference_steps):
            t = torch.full((b,), 1.0 + i * dt, device=obs.device)
            x = x + dt * self.velocity(x, t, context)
        # Actions are normalised to [-1, 1] over the data; clamping keeps the chunk in the action box.
        return x.clamp(-1.0, 1.0) if cfg.clip_sample else x
