"""Ground-truth simulators ("the real world") and their experts."""

from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY, Expert, Task, TaskSpec, check_action
from hiwm.tasks.controls import ActionLayout, action_layout
from hiwm.tasks.registry import EXPERTS, TASKS
from hiwm.tasks import pusht  # noqa: F401  (registers "pusht")
from hiwm.tasks import pusht_expert  # noqa: F401
from hiwm.tasks import rope  # noqa: F401  (registers "rope-route")
from hiwm.tasks import rope_expert  # noqa: F401
from hiwm.tasks import towel  # noqa: F401  (registers "towel-fold")
from hiwm.tasks import towel_expert  # noqa: F401


def make_task(name: str, images: bool = True) -> Task:
    """Build a registered task's simulator; an unknown name raises a one-line HiwmError."""
    return TASKS.get(name)(images=images)


def task_class(name: str) -> type[Task]:
    return TASKS.get(name)


def make_expert(name: str, skill: float = 1.0, seed: int = 0) -> Expert:
    """The scripted expert of a registered task."""
    TASKS.get(name)  # an unknown task name fails here with the task list
    return EXPERTS.get(name)(skill=skill, seed=seed)


__all__ = ["ActionLayout", "ENV_KEY", "EXPERTS", "IMAGE_KEY", "STATE_KEY", "TASKS", "Expert", "make_expert", "Task",
           "TaskSpec", "action_layout", "check_action", "make_task", "task_class"]
