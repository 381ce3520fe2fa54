"""Which policy and world model the studio opens: the given checkpoints, the ones `hiwm demo` writes, the
small ones shipped in the package (src/hiwm/assets/<task>/, made by `hiwm demo`), or built-in stand-ins.

The stand-ins (only for a task with no shipped weights) are built in code in a few milliseconds (nothing is downloaded or shipped as a binary): an
untrained tiny diffusion policy (its actions are noise inside the action box) and a hand-set ensemble in
which the pusher follows its target and the block never moves. They are for trying the studio's
controls, not for corrections worth keeping, and the page says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hiwm.errors import HiwmError
from hiwm.policies import Policy, load_policy, make_policy
from hiwm.tasks import task_class
from hiwm.world_models import EnsembleConfig, EnsembleWorldModel, WorldModel, load_world_model

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


def builtin_policy(task: str, seed: int = 0) -> Policy:
    """An untrained, tiny diffusion policy whose normalisation spans the task's action box."""
    spec = task_class(task).spec_
    torch.manual_seed(seed)
    policy = make_policy("diffusion", action_dim=spec.action_dim, feature_dims={
        "observation.state": spec.agent_dim, "observation.environment_state": spec.env_dim},
        down_dims=(16, 32), n_groups=4, step_embed_dim=16, num_inference_steps=3, horizon=8, n_action_steps=4)
    lo, hi = np.asarray(spec.action_low, np.float32), np.asarray(spec.action_high, np.float32)
    box = {"min": lo, "max": hi, "mean": (lo + hi) / 2, "std": (hi - lo) / 4}
    env = {k: np.repeat(v[:1], spec.env_dim) for k, v in box.items()}
    agent = {k: np.resize(v, spec.agent_dim) for k, v in box.items()}
    policy.set_stats({"observation.state": agent, "observation.environment_state": env, "action": box})
    return policy.eval()


def builtin_world_model(task: str, seed: int = 0, gain: float = 0.5) -> WorldModel:
    """A hand-set Push-T ensemble: the pusher moves ``gain`` of the way to its target each step, the block
    stays put. Members differ by +-10% in gain, so the spread (uncertainty) grows with the commanded jump.

    Hidden layers pass their input through unchanged: a bias of 30 puts SiLU in its linear range.
    """
    if task != "pusht":
        raise HiwmError(f"no built-in world model for {task!r}: pass --world-model")
    torch.manual_seed(seed)
    cfg = EnsembleConfig(task=task, members=3, hidden=32, layers=2)
    wm = EnsembleWorldModel(cfg)
    n_in, e, h, shift = wm.codec.n_in, cfg.members, cfg.hidden, 30.0
    sd = {k: torch.zeros_like(v) for k, v in wm.state_dict().items()}
    eye = torch.zeros(e, n_in, h)
    eye[:, range(n_in), range(n_in)] = 1.0
    sd["net.0.weight"], sd["net.0.bias"] = eye, torch.full((e, 1, h), shift)
    sd["net.1.weight"] = torch.eye(h).expand(e, h, h).clone()
    # inputs 0:2 are (target - block) and 6:8 (pusher - block) in the block's frame / 100 px; outputs 0:2
    # are the pusher's move / 10 px: move = gain * (target - pusher)
    agent_now = 2 + 4 * (cfg.n_hist - 1)
    for m, g in enumerate(gain * np.array([0.9, 1.0, 1.1])):
        for d in range(2):
            sd["net.2.weight"][m, d, d] = 10.0 * g
            sd["net.2.weight"][m, agent_now + d, d] = -10.0 * g
    sd["in_std"], sd["out_std"] = torch.ones(n_in), torch.ones(wm.codec.n_out)
    wm.load_state_dict(sd)
    return wm.eval()


def load_models(task: str, policy: str | None = None, world_model: str | None = None, device: str = "cpu") -> Models:
    """Given paths must exist (a CheckpointError otherwise); missing defaults fall back to the stand-ins."""
    out = []
    for given, default, load, build in ((policy, DEMO_POLICY, load_policy, builtin_policy),
                                        (world_model, DEMO_WORLD_MODEL, load_world_model, builtin_world_model)):
        path = given or default.format(task=task)
        shipped = Path(__file__).resolve().parent.parent / "assets" / task / ("policy" if load is load_policy else "world_model")
        if not given and not Path(path).is_dir() and shipped.is_dir():
            path = str(shipped)  # small weights made by `hiwm demo` and shipped in the package
        if given or Path(path).is_dir():
            out += [load(path, device=device), str(path)]
        else:
            log.warning("no checkpoint at %s: using an untrained built-in stand-in (train one with `hiwm demo`)", path)
            out += [build(task), "builtin"]
    return Models(policy=out[0], world_model=out[2], policy_path=out[1], world_model_path=out[3])
