"""The ensemble world model and its per-task scene codecs (importing the package registers them)."""

from hiwm.world_models.ensemble import features, gripper  # noqa: F401
