"""The policy registry: `--policy diffusion` and a checkpoint's config.json `type` both resolve here."""

from hiwm.registry import Registry

# Maps a type name to its Policy subclass; the class names its config dataclass in `config_class`.
POLICIES = Registry("policy")
