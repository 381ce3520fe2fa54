"""The task registry: `--task pusht` finds its simulator here."""

from hiwm.registry import Registry

TASKS = Registry("task")
