"""Success rate and cost of the Push-T scripted expert in the simulator.

    python benchmarks/expert_success.py --seeds 100000:100100 --skill 1.0 --out expert.json

Each episode runs until coverage >= 0.95 (gym-pusht's termination) or 300 steps, recording the first
step at which coverage reached 0.90 (the protocol's success) and 0.95. CPU time per episode covers the
expert and the simulator (``time.process_time``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np

from hiwm.tasks import make_expert, make_task

log = logging.getLogger("expert_success")


def run_episode(seed: int, skill: float, max_steps: int = 300) -> dict:
    env = make_task("pusht", images=False)
    expert = make_expert("pusht", skill=skill, seed=seed)
    obs, info = env.reset(seed=seed)
    t0 = time.process_time()
    first90 = first95 = None
    best = info["progress"]
    for step in range(1, max_steps + 1):
        obs, _, _, _, info = env.step(expert.act(obs))
        best = max(best, info["progress"])
        if info["is_success"] and first90 is None:
            first90 = step
        if info["success_95"]:
            first95 = step
            break
    return {"seed": seed, "success_90": first90 is not None, "success_95": first95 is not None,
            "steps_90": first90, "steps_95": first95, "best_coverage": float(best),
            "cpu_s": time.process_time() - t0}


def summarize(rows: list[dict]) -> dict:
    s90 = [r["steps_90"] for r in rows if r["success_90"]]
    s95 = [r["steps_95"] for r in rows if r["success_95"]]
    return {"episodes": len(rows),
            "success_90": float(np.mean([r["success_90"] for r in rows])),
            "success_95": float(np.mean([r["success_95"] for r in rows])),
            "mean_steps_90": float(np.mean(s90)) if s90 else None,
            "mean_steps_95": float(np.mean(s95)) if s95 else None,
            "cpu_s_per_episode": float(np.mean([r["cpu_s"] for r in rows])),
            "cpu_s_max": float(np.max([r["cpu_s"] for r in rows]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="100000:100100", help="start:stop (stop excluded)")
    ap.add_argument("--skill", type=float, default=1.0)
    ap.add_argument("--out", default=None, help="write summary and per-episode results as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every episode")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    start, stop = (int(x) for x in args.seeds.split(":"))
    rows = []
    for seed in range(start, stop):
        rows.append(run_episode(seed, args.skill))
        log.info("%s", rows[-1])
    summary = {"seeds": args.seeds, "skill": args.skill, **summarize(rows)}
    fmt = lambda v: "-" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    print(f"{'metric':<22}{'value':>10}")
    for key in ("episodes", "success_90", "success_95", "mean_steps_90", "mean_steps_95", "cpu_s_per_episode", "cpu_s_max"):
        print(f"{key:<22}{fmt(summary[key]):>10}")
    failures = [r["seed"] for r in rows if not r["success_90"]]
    print(f"failures@0.90: {failures}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"summary": summary, "episodes": rows}, f, indent=1)


if __name__ == "__main__":
    main()
