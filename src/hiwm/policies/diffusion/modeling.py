"""Diffusion Policy, conditioned on the encoded observation history (low-dim features and/or image features).

Training: noise a normalised action chunk to a random level t (DDPM forward process) and regress
the noise (or the clean chunk), conditioned on the flattened observation history.
Inference: start from Gaussian noise drawn from the caller's generator and run a few deterministic
DDIM steps; the policy executes ``n_action_steps`` of the ``horizon`` predicted actions.
"""

from __future__ import annotations

from typing import Any

import torch

from hiwm.policies.base import Policy, initial_noise, masked_mse
from hiwm.policies.diffusion.configuration import DiffusionConfig
from hiwm.policies.diffusion.schedule import NoiseSchedule
from hiwm.policies.diffusion.unet import ConditionalUnet1d
from hiwm.policies.registry import POLICIES


@POLICIES.register("diffusion")
class DiffusionPolicy(Policy):
    config_class = DiffusionConfig

    def __init__(self, config: DiffusionConfig):
        super().__init__(config)
        self.config: DiffusionConfig = config
        self.unet = ConditionalUnet1d(
            action_dim=config.action_dim,
            obs_cond_dim=config.n_obs_steps * config.obs_dim,
            down_dims=config.down_dims,
            kernel=config.kernel_size,
            groups=config.n_groups,
            step_embed_dim=config.step_embed_dim,
        )
        clip = config.clip_sample_range if config.clip_sample else None
        self.schedule = NoiseSchedule(config.num_train_timesteps, config.prediction_type, clip)
        self.to(config.device)

    def compute_loss(
        self, obs: torch.Tensor, action: torch.Tensor, action_is_pad: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """obs: (B, T_obs, F), action: (B, H, A), action_is_pad: (B, H) -> masked MSE over real actions.

        Noise and levels come from torch's global RNG, which the training loop seeds.
        """
        b = action.shape[0]
        noise = torch.randn_like(action)
        t = torch.randint(0, self.schedule.num_train_steps, (b,), device=action.device)
        pred = self.unet(self.schedule.add_noise(action, noise, t), t, obs.flatten(1))
        loss = masked_mse(pred, self.schedule.target(action, noise), action_is_pad)
        return loss, {"loss": loss.detach()}

    @torch.inference_mode()
    def generate(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """obs: (B, T_obs, F) normalised -> (B, horizon, A) normalised actions via DDIM.

        The initial noise is drawn on the generator's device then moved, so a CPU generator gives the
        same actions whether the model runs on CPU or CUDA (up to float arithmetic).
        """
        cfg = self.config
        shape = (obs.shape[0], cfg.horizon, cfg.action_dim)
        x = initial_noise(shape, generator, obs.device)
        cond = obs.flatten(1)
        steps = self.schedule.inference_timesteps(cfg.num_inference_steps)
        for t, t_prev in zip(steps, steps[1:] + [-1]):
            level = torch.full((shape[0],), t, device=obs.device, dtype=torch.long)
            x = self.schedule.ddim_step(self.unet(x, level, cond), x, t, t_prev)
        return x
