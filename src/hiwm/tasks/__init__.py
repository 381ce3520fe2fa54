"""Ground-truth simulators ("the real world") and their experts."""

from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY, Task, TaskSpec, check_action
from hiwm.tasks.registry import TASKS
from hiwm.tasks import pusht  # noqa: F401  (registers "pusht")


def make_task(name: str, images: bool = True) -> Task:
    """Build a registered task's simulator; an unknown name raises a one-line HiwmError."""
    return TASKS.get(name)(images=images)


def task_class(name: str) -> type[Task]:
    return TASKS.get(name)


__all__ = ["ENV_KEY", "IMAGE_KEY", "STATE_KEY", "TASKS", "Task", "TaskSpec", "check_action", "make_task", "task_class"]
