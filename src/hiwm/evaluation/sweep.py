"""The demonstration-count sweep that fixes the protocol's number of base demonstrations.

PROTOCOL.md: the number of demos per task is chosen once, by a documented sweep, so that the Diffusion
Policy base succeeds 25-65% of the time in the simulator. One expert dataset with the largest count is
collected; a base policy is trained on its first N episodes for each N and evaluated in the simulator
on the validation seeds (9 000+, unused initial states of the demonstration range): choosing N is tuning,
and held-out seeds are for the final evaluation only. The pick is the smallest N whose success lies inside the band: the cheapest
demonstration set the protocol allows, which is the setting Hi-WM is for (a weak policy made reliable
without more demonstrations). With no N inside the band, the N closest to its middle is taken.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from hiwm.evaluation.metrics import wilson_interval
from hiwm.policies import load_policy
from hiwm.recipe import RunConfig
from hiwm.stages import VALIDATION_SEED, collect_episodes, evaluate_policy, train_base_policy
from hiwm.tasks.vector import SimVecEnv

log = logging.getLogger(__name__)

BAND = (0.25, 0.65)


def demo_sweep(cfg: RunConfig, counts: list[int], run_dir: str | Path, episodes: int = 100,
               progress: bool = True) -> dict:
    """Base policies on the first N of one expert dataset for each N in ``counts``, scored on ``episodes`` validation
    episodes; returns (and writes to sweep.json) each N's success and the chosen N."""
    run_dir = Path(run_dir)
    out = {"counts": {}, "band": BAND, "episodes": episodes, "eval_seeds": [VALIDATION_SEED, VALIDATION_SEED + episodes],
           "policy_steps": cfg.policy_training.steps}
    full = collect_episodes(replace(cfg, data=replace(cfg.data, expert_episodes=max(counts))), "expert",
                            run_dir / "data" / "demos", progress=progress)
    validation = replace(cfg, evaluation=replace(cfg.evaluation, first_seed=VALIDATION_SEED, episodes=episodes))
    for n in sorted(counts):
        path = run_dir / f"demos_{n}" / "policies" / "base"
        subset = [full.episode(i, decode_images=False) for i in range(n)]
        if not (path / "model.safetensors").exists():
            train_base_policy(cfg, subset, full.stats, progress=progress)[0].save(path)
        res = evaluate_policy(validation, load_policy(path, device=cfg.device), SimVecEnv(cfg.task), progress=progress,
                              desc=f"sweep eval ({n} demos)")
        k = int(res.success.sum())
        out["counts"][n] = {"sim_success": k / episodes, "sim_ci95": list(wilson_interval(k, episodes)),
                            "frames": int(sum(len(e["action"]) for e in subset))}
        log.info("sweep: %d demos -> %.0f%% simulator success", n, 100 * k / episodes)
        (run_dir / "sweep.json").write_text(json.dumps(out, indent=2))  # partial results survive a kill
    mid = sum(BAND) / 2
    inside = {n: r for n, r in out["counts"].items() if BAND[0] <= r["sim_success"] <= BAND[1]}
    out["chosen"] = min(inside) if inside else min(out["counts"], key=lambda n: abs(out["counts"][n]["sim_success"] - mid))
    (run_dir / "sweep.json").write_text(json.dumps(out, indent=2))
    return out
