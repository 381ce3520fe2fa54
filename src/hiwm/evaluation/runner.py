"""One rollout runner for the simulator and the world model alike.

All N episodes run in lockstep, so the policy predicts one batched chunk for all of them: on a CPU
that makes 100 episodes cost little more than one. An episode ends when the task's terminal success
is reached (gym-pusht: coverage 0.95) or at the step limit; success is "is_success at any step".

The runner asks the env for camera images (``env.images``) exactly when the policy takes
``observation.image`` as an input, so low-dimensional policies never pay for rendering.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.tasks.vector import GYM_SUCCESS_KEY, VecEnv

log = logging.getLogger(__name__)


@dataclass
class RolloutResult:
    """Per-episode outcomes, (N,) each; ``episodes`` holds recorded frames when asked for."""

    seeds: np.ndarray
    success: np.ndarray
    terminal_success: np.ndarray
    max_progress: np.ndarray
    steps: np.ndarray
    max_uncertainty: np.ndarray
    episodes: list[dict] = field(default_factory=list)

    @property
    def success_rate(self) -> float:
        return float(self.success.mean()) if len(self.success) else 0.0


@torch.no_grad()
def rollout(env: VecEnv, policy, seeds: list[int], max_steps: int, seed: int = 0, record: bool = False,
            progress: bool = True, desc: str = "rollout") -> RolloutResult:
    """Roll ``policy`` out in ``env`` from the initial states of ``seeds``.

    record: keep per-episode columns (``observation.state`` (T, D), ``observation.environment_state``,
    ``action`` (T, A), ``scene`` (T+1, D_scene), ``progress`` (T,), ``success`` (T,), ``uncertainty`` (T,), and
    ``obs_image`` (T, S, S, 3) when the policy sees frames) up to the episode's end, for datasets and videos.
    """
    n = len(seeds)
    env.images = IMAGE_KEY in policy.config.input_features
    obs = env.reset(list(seeds))
    state = policy.initial_state(n)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    success = np.zeros(n, bool)
    success95 = np.zeros(n, bool)
    max_prog = np.zeros(n)
    max_unc = np.zeros(n)
    steps = np.zeros(n, int)
    active = np.ones(n, bool)
    rec = [{"obs_state": [], "obs_env": [], "action": [], "scene": [env.scenes()[i].copy()], "progress": [],
            "success": [], "uncertainty": [], **({"obs_image": []} if env.images else {})} for i in range(n)] if record else []
    bar = tqdm(range(max_steps), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        policy_obs = policy.input_tensors(obs)
        actions, state = policy.act(state, policy_obs, generator=gen)
        actions = actions.detach().cpu().numpy().astype(np.float64)
        prev_obs = obs
        obs, info = env.step(actions, active=active)
        scenes = env.scenes() if record else None
        for i in np.flatnonzero(active):
            steps[i] += 1
            max_prog[i] = max(max_prog[i], info["progress"][i])
            max_unc[i] = max(max_unc[i], info["uncertainty"][i])
            success[i] |= bool(info["is_success"][i])
            success95[i] |= bool(info[GYM_SUCCESS_KEY][i])
            if record:
                r = rec[i]
                r["obs_state"].append(prev_obs[STATE_KEY][i])
                r["obs_env"].append(prev_obs[ENV_KEY][i])
                if env.images:  # the frame the policy saw (a pixel world model's own)
                    r["obs_image"].append(prev_obs[IMAGE_KEY][i])
                r["action"].append(actions[i])
                r["scene"].append(scenes[i].copy())
                r["progress"].append(info["progress"][i])
                r["success"].append(bool(info["is_success"][i]))
                r["uncertainty"].append(info["uncertainty"][i])
        active &= ~success95
        bar.set_postfix(success=f"{success.mean():.2f}", active=int(active.sum()))
        if not active.any():
            break
    bar.close()
    episodes = [{k: np.asarray(v) for k, v in r.items()} for r in rec]
    return RolloutResult(np.asarray(seeds), success, success95, max_prog, steps, max_unc, episodes)
