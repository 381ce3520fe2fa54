"""The task registry: `--task pusht` finds its simulator (TASKS) and its scripted expert (EXPERTS)."""

from hiwm.registry import Registry

TASKS = Registry("task")
EXPERTS = Registry("expert")
