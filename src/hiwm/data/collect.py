"""`hiwm collect`: record simulator episodes into a LeRobotDataset.

Modes:
* ``expert``: the scripted expert at full skill; an episode ends on terminal success or at the limit.
  Failed demonstrations are not kept (as a person would discard a botched demo); seeds are consumed
  in order from ``seed_start`` until ``episodes`` successes are recorded.
* ``play``: world-model training data (data/play.py): perturbed, wandering, failing behaviour and
  workspace edges, always run to the step limit.
* ``policy``: policy play (data/policy_play.py): a given policy, with play stretches in between, run to
  the step limit: world-model data from the policy's own states. Each frame's ``source`` says who acted.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hiwm.data.features import standard_features
from hiwm.data.lerobot import DatasetWriter, LeRobotDataset
from hiwm.data.play import PlayActor
from hiwm.data.policy_play import PolicyPlayActor
from hiwm.errors import HiwmError
from hiwm.tasks import make_expert, make_task
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY

log = logging.getLogger(__name__)
MODES = ("expert", "play", "policy")


def record_episode(env, actor, seed: int, max_steps: int, images: bool, stop_on_success: bool) -> tuple[dict, bool]:
    """Run one episode; actor(obs, scene) -> action. Returns (columns, success)."""
    obs, info = env.reset(seed=seed)
    cols: dict[str, list] = {STATE_KEY: [], ENV_KEY: [], "action": [], "next.reward": [], "next.success": []}
    if images:
        cols[IMAGE_KEY] = []
    success = False
    for _ in range(max_steps):
        action = actor(obs, env.scene())
        for k in (STATE_KEY, ENV_KEY) + ((IMAGE_KEY,) if images else ()):
            cols[k].append(obs[k])
        obs, reward, terminated, truncated, info = env.step(action)
        cols["action"].append(action)
        cols["next.reward"].append(reward)
        cols["next.success"].append(info["is_success"])
        success |= bool(info["is_success"])
        if (terminated and stop_on_success) or truncated:
            break
    frames = {k: np.asarray(v) for k, v in cols.items()}
    return frames, success


def collect(task_name: str, mode: str, episodes: int, root: str | Path, seed_start: int, images: bool = False,
            skill: float = 1.0, progress: bool = True, max_steps: int | None = None, policy=None,
            policy_share: float = 0.7) -> LeRobotDataset:
    """Write ``episodes`` episodes to ``root`` (appending if it exists); returns the dataset. Mode
    ``policy`` needs ``policy`` (a loaded policy), which acts a ``policy_share`` of the time."""
    if mode not in MODES:
        raise HiwmError(f"unknown collect mode {mode!r} (known: {', '.join(MODES)})")
    if (mode == "policy") != (policy is not None):
        raise HiwmError("collect mode 'policy' needs a policy, and only it takes one")
    if not 0.0 <= policy_share <= 1.0:
        raise HiwmError(f"policy_share must be in [0, 1], got {policy_share}")
    env = make_task(task_name, images=images)
    spec = env.spec_
    root = Path(root)
    if (root / "meta" / "info.json").exists():
        writer = DatasetWriter.open(root)
    else:
        feats = standard_features(spec.agent_dim, spec.action_dim, env_dim=spec.env_dim,
                                  image_size=spec.image_size if images else None)
        writer = DatasetWriter.create(root, fps=spec.fps, features=feats)
    kept, seed, tried = resume_point(root, seed_start)
    kept0, tried0 = kept, tried  # a resumed dataset already holds these
    bar = tqdm(total=episodes, initial=min(kept, episodes), desc=f"collect {mode}", disable=not progress, leave=False)
    with writer:
        while kept < episodes:
            expert = make_expert(task_name, skill=skill, seed=seed)
            sources = None  # who acted at each step, when it is not the mode itself
            if mode == "expert":
                actor = lambda obs, scene, e=expert: e.act(obs)  # noqa: E731
            elif mode == "play":
                actor = PlayActor(spec, expert, seed=seed).act
            else:
                mixed = PolicyPlayActor(policy, spec, expert, seed, policy_share)
                actor, sources = mixed.act, mixed.sources
            frames, success = record_episode(env, actor, seed, max_steps or spec.max_steps, images, stop_on_success=mode == "expert")
            tried += 1
            seed += 1
            if mode == "expert" and not success:
                if tried > 10 * episodes + 10:
                    raise HiwmError(f"{task_name}: the expert succeeded in only {kept} of {tried} episodes "
                                    f"within {max_steps or spec.max_steps} steps; raise the step limit")
                continue
            T = len(frames["action"])
            frames["source"] = np.asarray(sources, dtype=object) if sources else np.full(T, mode, dtype=object)
            writer.add_episode(frames, task=spec.description, meta={"seed": seed - 1, "success": success})
            kept += 1
            bar.update(1)
    bar.close()
    if mode == "expert" and tried > tried0:
        new, attempts = kept - kept0, tried - tried0
        log.info("expert kept %d of %d new episodes (%.0f%% success)", new, attempts, 100 * new / attempts)
    return LeRobotDataset(root)


def resume_point(root: Path, seed_start: int) -> tuple[int, int, int]:
    """(episodes kept, next seed, tried) so an interrupted collection continues where it stopped."""
    try:
        ds = LeRobotDataset(root)
    except HiwmError:
        return 0, seed_start, 0
    seeds = [int(ep["seed"]) for ep in ds.episodes if "seed" in ep]
    return ds.num_episodes, (max(seeds) + 1 if seeds else seed_start), 0
