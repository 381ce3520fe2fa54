"""The ensemble world model and its per-task scene codecs (importing the package registers them)."""

from hiwm.world_models.ensemble import chain, features, gripper  # noqa: F401
