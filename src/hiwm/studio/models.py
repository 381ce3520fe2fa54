"""Which policy and world model the studio opens: the given checkpoints, the ones `hiwm run` writes, the
small ones shipped in the package (src/hiwm/assets/<task>/, made by `hiwm run`), or built-in stand-ins
(standins.py: built in code, nothing downloaded; for trying the controls, and the page says so).

Whatever is opened must fit the task: a world model of another task or a policy with another action size
stops with a one-line error naming the checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from hiwm.errors import HiwmError
from hiwm.policies import Policy, load_policy
from hiwm.studio.standins import builtin_policy, builtin_world_model
from hiwm.tasks import task_class
from hiwm.world_models import WorldModel, load_world_model

log = logging.getLogger(__name__)

DEMO_POLICY = "runs/{task}-full-seed0/policies/base"
DEMO_WORLD_MODEL = "runs/{task}-full-seed0/world_model"


@dataclass
class Models:
    policy: Policy
    world_model: WorldModel
    policy_path: str  # "builtin" for the stand-in
    world_model_path: str

    @property
    def builtin(self) -> bool:
        return "builtin" in (self.policy_path, self.world_model_path)


def load_models(task: str, policy: str | None = None, world_model: str | None = None, device: str = "cpu") -> Models:
    """Given paths must exist (a CheckpointError otherwise); missing defaults fall back to the stand-ins."""
    out = []
    for given, default, load, build in ((policy, DEMO_POLICY, load_policy, builtin_policy),
                                        (world_model, DEMO_WORLD_MODEL, load_world_model, builtin_world_model)):
        path = given or default.format(task=task)
        shipped = Path(__file__).resolve().parent.parent / "assets" / task / ("policy" if load is load_policy else "world_model")
        if not given and not Path(path).is_dir() and shipped.is_dir():
            path = str(shipped)  # small weights made by `hiwm run` and shipped in the package
        if given or Path(path).is_dir():
            out += [load(path, device=device), str(path)]
        else:
            out += [build(task), "builtin"]  # raises (one line) where no stand-in can exist
            log.warning("no checkpoint at %s: using a built-in stand-in (train one with `hiwm run --task %s`)", path, task)
    models = Models(policy=out[0], world_model=out[2], policy_path=out[1], world_model_path=out[3])
    check_models(task, models)
    return models


def check_models(task: str, models: Models) -> None:
    """A one-line HiwmError unless the world model is ``task``'s and the policy acts in its action space."""
    spec = task_class(task).spec_
    wm_task = models.world_model.config.task
    if wm_task != task:
        raise HiwmError(f"world model {models.world_model_path} is for {wm_task}, not {task}")
    if models.policy.config.action_dim != spec.action_dim:
        raise HiwmError(f"policy {models.policy_path} acts in {models.policy.config.action_dim} dims, "
                        f"{task} in {spec.action_dim}")


__all__ = ["Models", "builtin_policy", "builtin_world_model", "check_models", "load_models"]
