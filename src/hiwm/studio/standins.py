"""Built-in stand-ins for a task with no trained or shipped checkpoints, built in code in well under a second.

* :func:`builtin_policy`: an untrained tiny diffusion policy whose normalisation spans the task's action
  box (its actions are noise inside the box).
* :func:`builtin_world_model`: an ensemble world model (the same kind `hiwm run` trains, over the task's
  scene codec) that follows one hand-written rule: the agent moves ``gain`` of the way to the commanded
  action each step (every action dim: for a gripper also its height and grasp), nothing else moves.
  Members use 0.9, 1.0 and 1.1 times the gain, so the spread (uncertainty) grows with the commanded jump.

The rule is put into the network without training: the hidden layers pass their (standardised) input
through unchanged (a bias of 30 keeps SiLU in its linear range) and the output layer is the least-squares
fit of the codec's targets to its inputs on synthetic transitions that obey the rule, drawn from the
task's start states at the Hi-WM initial seeds. For a codec whose inputs hold the agent and the action
linearly (Push-T's), the fit is exact. Nothing here runs a simulator; a task whose scene has no
world-model codec has no stand-in world model (a one-line error says what to pass instead).

Both are for trying the studio's controls, not for corrections worth keeping, and the page says so.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from hiwm.errors import HiwmError
from hiwm.policies import Policy, make_policy
from hiwm.tasks import STATE_KEY, action_layout, task_class
from hiwm.world_models import EnsembleConfig, EnsembleWorldModel, WorldModel
from hiwm.world_models.ensemble.features import SCENE_CODECS

log = logging.getLogger(__name__)

FIT_SEEDS = range(20000, 20016)  # the protocol's initial states for rollouts inside the world model
GAINS = (0.9, 1.0, 1.1)  # per member, times ``gain``
SHIFT = 30.0  # hidden bias: SiLU(x + 30) = x + 30 to float32 precision for |x| < 10


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


def follow_transitions(task: str, codec, gains: tuple[float, ...], n: int, seed: int = 0):
    """Synthetic transitions under the follow-the-action rule, encoded by ``codec``.

    Returns inputs (n, n_in) and one target array per gain, (len(gains), n, n_out). Agent positions and
    all actions are uniform in the action box; the rest of each scene is a start state at FIT_SEEDS.
    """
    cls = task_class(task)
    spec = cls.spec_
    rng = np.random.default_rng(seed)
    lo, hi = np.asarray(spec.action_low), np.asarray(spec.action_high)
    base = np.stack([cls.initial_scene(s) for s in FIT_SEEDS])[rng.integers(len(FIT_SEEDS), size=n)]  # (n, D)

    def placed(agent: np.ndarray) -> np.ndarray:  # (n, A) -> the scenes with the agent there, (n, D)
        obs = cls.observe_lowdim(base)
        obs[STATE_KEY] = agent
        return np.asarray(cls.scene_of(obs), dtype=np.float64)

    box = lambda: rng.uniform(lo, hi, (n, spec.action_dim))  # noqa: E731
    agents = [box() for _ in range(codec.n_hist)]  # oldest first
    action = box()
    hist = np.stack([placed(a) for a in agents], 1).astype(np.float32)  # (n, H, D)
    # the actions that led into the history: independent of where the agent got to, so the fit cannot
    # lean on them (after a correction they are anything)
    acts = np.stack([box() for _ in range(codec.n_hist)], 1).astype(np.float32)  # (n, H, A)
    now = hist[:, -1]
    inputs = codec.inputs(hist, acts, action.astype(np.float32))
    action32 = action.astype(np.float32)
    targets = [codec.targets(now, placed(agents[-1] + g * (action - agents[-1])).astype(np.float32), action32)
               for g in gains]
    return np.asarray(inputs, np.float64), np.asarray(targets, np.float64)


def builtin_world_model(task: str, seed: int = 0, gain: float = 0.5) -> WorldModel:
    """The follow-the-action ensemble for ``task`` (module docstring); a one-line HiwmError if it cannot exist."""
    spec = task_class(task).spec_
    if task not in SCENE_CODECS:
        raise HiwmError(f"no world model for {task} yet and no built-in stand-in (the ensemble world model has no scene "
                        f"codec for it): pass --world-model DIR, or train one with `hiwm run --task {task}`")
    if not action_layout(spec).agent_is_action:
        raise HiwmError(f"no built-in world model for {task}: its agent state is not in action coordinates; "
                        f"pass --world-model DIR")
    codec = SCENE_CODECS.get(task)(EnsembleConfig.n_hist)
    e, n_in, n_out = len(GAINS), codec.n_in, codec.n_out
    x, ys = follow_transitions(task, codec, tuple(gain * g for g in GAINS), n=max(512, 4 * (n_in + 1)), seed=seed)
    mean, std = x.mean(0), x.std(0)
    std = np.where(std > 1e-6, std, 1.0)
    design = np.concatenate([(x - mean) / std, np.ones((len(x), 1))], 1)  # (n, n_in + 1)
    fits = [np.linalg.lstsq(design, y, rcond=None)[0] for y in ys]  # (n_in + 1, n_out) each
    rms = max(float(np.sqrt(np.mean((design @ w - y) ** 2))) for w, y in zip(fits, ys))
    log.info("%s stand-in world model: least-squares fit of the follow rule, rms residual %.2g codec units", task, rms)

    torch.manual_seed(seed)
    h = max(32, n_in)
    wm = EnsembleWorldModel(EnsembleConfig(task=task, members=e, hidden=h, layers=2))
    sd = {k: torch.zeros_like(v) for k, v in wm.state_dict().items()}
    eye = torch.zeros(e, n_in, h)
    eye[:, range(n_in), range(n_in)] = 1.0
    sd["net.0.weight"], sd["net.0.bias"] = eye, torch.full((e, 1, h), SHIFT)
    sd["net.1.weight"] = torch.eye(h).expand(e, h, h).clone()
    for m, w in enumerate(fits):  # hidden = standardised input + SHIFT: take SHIFT back out in the bias
        sd["net.2.weight"][m, :n_in] = torch.as_tensor(w[:n_in], dtype=torch.float32)
        sd["net.2.bias"][m, 0] = torch.as_tensor(w[n_in] - SHIFT * w[:n_in].sum(0), dtype=torch.float32)
    sd["in_mean"], sd["in_std"] = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
    sd["out_std"] = torch.ones(n_out)
    wm.load_state_dict(sd)
    return wm.eval()
