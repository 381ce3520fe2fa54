"""Diffusion Policy backbone (low-dimensional observations); importing registers "diffusion"."""

from hiwm.policies.diffusion.configuration import DiffusionConfig
from hiwm.policies.diffusion.modeling import DiffusionPolicy

__all__ = ["DiffusionConfig", "DiffusionPolicy"]
