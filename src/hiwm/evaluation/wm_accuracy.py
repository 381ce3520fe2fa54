"""Open-loop world-model accuracy against horizon, next to the "nothing moves" predictor.

From a start frame of a held-out simulator episode (with its true history), the model is rolled out with
the episode's true actions for H steps and compared with the recorded scene H steps later. The measures
are the task codec's ``errors`` (Push-T: the T's position and angle, the mean keypoint error, in px;
rope and towel: the mean and worst object point and the gripper, in mm).

Held-out episodes come in two kinds, reported apart as well as together: ``expert`` (the scripted
expert at full skill, ending on the task's terminal success like a demonstration, so only horizons
shorter than the episode exist) and ``play`` (data/play.py, run to the step limit).

The open-loop measures need a scene-vector kind (``wm.state_at`` builds its state from a recorded history,
``wm.codec.errors`` compares scenes); ``expert_in_model`` runs on any kind through ``WorldModelVecEnv``.

``expert_in_model`` closes the loop: the scripted expert (the operator) acting on the model's
predictions alone, judged by the task's success test on the predicted scene.
"""

from __future__ import annotations

import numpy as np

from hiwm.data.collect import record_episode
from hiwm.data.play import PlayActor
from hiwm.tasks import make_expert, make_task
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.tasks.vector import GYM_SUCCESS_KEY
from hiwm.world_models.base import WorldModel
from hiwm.world_models.env import WorldModelVecEnv

HORIZONS = (1, 5, 10, 20, 30, 100)
KINDS = ("expert", "play")


def heldout_episodes(task_name: str, n: int, max_steps: int, seed0: int) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """``n`` simulator episodes from seeds ``seed0 ...``, alternating expert and play (play at skill 0.6
    when it uses the expert) -> {kind: [(scenes (T, D_scene), actions (T, A))]}."""
    env = make_task(task_name, images=False)
    out: dict[str, list] = {k: [] for k in KINDS}
    for i in range(n):
        seed, kind = seed0 + i, KINDS[i % 2]
        expert = make_expert(task_name, skill=1.0 if kind == "expert" else 0.6, seed=seed)
        actor = (lambda o, s, e=expert: e.act(o)) if kind == "expert" else PlayActor(env.spec_, expert, seed).act
        frames, _ = record_episode(env, actor, seed, max_steps, images=False, stop_on_success=kind == "expert")
        scenes = env.scene_of({STATE_KEY: frames[STATE_KEY], ENV_KEY: frames[ENV_KEY]})
        out[kind].append((scenes, frames["action"]))
    return out


def _horizon_errors(wm: WorldModel, episodes: list, H: int, starts_per_episode: int, rng) -> dict[str, list]:
    """Per-start error dicts of the model and of "nothing moves" at horizon H (empty if no episode is longer)."""
    errs: dict[str, list] = {"model": [], "nothing_moves": []}
    for scenes, actions in episodes:
        if len(scenes) <= H:
            continue
        n_starts = len(scenes) - H
        starts = np.sort(rng.choice(n_starts, size=min(starts_per_episode, n_starts), replace=False))
        state = wm.state_at(scenes, actions, starts)  # the kind builds its own state from the history
        for j in range(H):
            state, _, info = wm.step(state, actions[starts + j])
        errs["model"].append(wm.codec.errors(info["scene"], scenes[starts + H]))
        errs["nothing_moves"].append(wm.codec.errors(scenes[starts], scenes[starts + H]))
    return errs


def open_loop_errors(wm: WorldModel, episodes, horizons=HORIZONS, starts_per_episode: int = 8, seed: int = 0) -> dict:
    """episodes: a list of (scenes (T, D), actions (T, A)), or {kind: such a list}.

    Returns {H: {"model": summary, "nothing_moves": summary[, "by_kind": {kind: {"model", "nothing_moves"}}]}}
    for every horizon some episode is longer than, plus "episodes": {kind: {"count", "steps_min",
    "steps_median", "steps_max"}}. A summary holds ``<measure>_median``, ``<measure>_mean`` and ``n`` (starts).
    """
    kinds = episodes if isinstance(episodes, dict) else {"all": episodes}
    rng = np.random.default_rng(seed)
    out: dict = {}
    for H in horizons:
        per_kind = {k: _horizon_errors(wm, eps, H, starts_per_episode, rng) for k, eps in kinds.items()}
        merged = {w: [e for errs in per_kind.values() for e in errs[w]] for w in ("model", "nothing_moves")}
        if not merged["model"]:
            continue
        out[H] = {w: _summarise(merged[w]) for w in merged}
        if len(kinds) > 1:
            out[H]["by_kind"] = {k: {w: _summarise(v[w]) for w in v} for k, v in per_kind.items() if v["model"]}
    out["episodes"] = {k: _lengths(eps) for k, eps in kinds.items()}
    return out


def expert_in_model(wm: WorldModel, seeds: list[int], max_steps: int) -> dict:
    """The scripted expert at full skill, reading only the model's predictions, from each seed's initial
    state: does the model let the operator finish the task? -> {"success" (share judged successful by the
    task's own test on the predicted scene), "steps_mean" (to terminal success or the limit), "episodes"}."""
    env = WorldModelVecEnv(wm)
    obs = env.reset(seeds)
    experts = [make_expert(wm.task.spec_.name, skill=1.0, seed=s) for s in seeds]
    success = np.zeros(len(seeds), bool)
    steps = np.full(len(seeds), max_steps)
    for t in range(max_steps):
        actions = np.stack([e.act({k: v[i] for k, v in obs.items()}) for i, e in enumerate(experts)])
        obs, info = env.step(actions)
        success |= info["is_success"]
        steps = np.where(info[GYM_SUCCESS_KEY] & (steps == max_steps), t + 1, steps)
        if np.all(steps < max_steps):
            break
    return {"success": float(success.mean()), "steps_mean": float(steps.mean()), "episodes": len(seeds)}


def _lengths(episodes: list) -> dict:
    steps = np.array([len(s) for s, _ in episodes]) if episodes else np.zeros(1, int)
    return {"count": len(episodes), "steps_min": int(steps.min()), "steps_median": float(np.median(steps)),
            "steps_max": int(steps.max())}


def _summarise(parts: list[dict]) -> dict:
    out = {}
    for name in parts[0]:
        e = np.concatenate([p[name] for p in parts])
        out[f"{name}_median"], out[f"{name}_mean"] = float(np.median(e)), float(e.mean())
    out["n"] = int(sum(len(next(iter(p.values()))) for p in parts))
    return out
