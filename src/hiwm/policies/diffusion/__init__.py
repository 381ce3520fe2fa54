"""Diffusion Policy backbone (1-D U-Net over the action chunk, DDIM sampling); importing registers "diffusion"."""

from hiwm.policies.diffusion.configuration import DiffusionConfig
from hiwm.policies.diffusion.modeling import DiffusionPolicy

__all__ = ["DiffusionConfig", "DiffusionPolicy"]
