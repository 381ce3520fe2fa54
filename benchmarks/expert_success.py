"""Success rate and cost of a task's scripted expert in the simulator.

    python benchmarks/expert_success.py --task pusht --seeds 100000:100100 --skill 1.0 --out expert.json

Each episode runs until the task's terminal success (Push-T: gym-pusht's coverage 0.95; rope-route and
towel-fold: their success test) or the episode limit (300 steps), recording the first step at which the
protocol's success test passed (``success``; Push-T: coverage >= 0.90) and the step at which the episode
ended on terminal success (``terminal``). CPU time per episode covers the expert and the simulator
(``time.process_time``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np

from hiwm.tasks import make_expert, make_task

log = logging.getLogger("expert_success")


def run_episode(task: str, seed: int, skill: float) -> dict:
    env = make_task(task, images=False)
    expert = make_expert(task, skill=skill, seed=seed)
    obs, info = env.reset(seed=seed)
    t0 = time.process_time()
    first = terminal = None
    best = info["progress"]
    for step in range(1, env.spec_.max_steps + 1):
        obs, _, _, _, info = env.step(expert.act(obs))
        best = max(best, info["progress"])
        if info["is_success"] and first is None:
            first = step
        if info["terminal_success"]:  # the terminal-success flag every task reports
            terminal = step
            break
    return {"seed": seed, "success": first is not None, "terminal": terminal is not None,
            "steps_success": first, "steps_terminal": terminal, "best_progress": float(best),
            "cpu_s": time.process_time() - t0}


def summarize(rows: list[dict]) -> dict:
    s1 = [r["steps_success"] for r in rows if r["success"]]
    s2 = [r["steps_terminal"] for r in rows if r["terminal"]]
    return {"episodes": len(rows),
            "success": float(np.mean([r["success"] for r in rows])),
            "terminal": float(np.mean([r["terminal"] for r in rows])),
            "mean_steps_success": float(np.mean(s1)) if s1 else None,
            "mean_steps_terminal": float(np.mean(s2)) if s2 else None,
            "cpu_s_per_episode": float(np.mean([r["cpu_s"] for r in rows])),
            "cpu_s_max": float(np.max([r["cpu_s"] for r in rows]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="pusht")
    ap.add_argument("--seeds", default="100000:100100", help="start:stop (stop excluded)")
    ap.add_argument("--skill", type=float, default=1.0)
    ap.add_argument("--out", default=None, help="write summary and per-episode results as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every episode")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    start, stop = (int(x) for x in args.seeds.split(":"))
    wall = time.perf_counter()
    rows = []
    for seed in range(start, stop):
        rows.append(run_episode(args.task, seed, args.skill))
        log.info("%s", rows[-1])
    summary = {"task": args.task, "seeds": args.seeds, "skill": args.skill, **summarize(rows),
               "wall_s": time.perf_counter() - wall}
    fmt = lambda v: "-" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    print(f"{'metric':<22}{'value':>10}")
    for key in ("episodes", "success", "terminal", "mean_steps_success", "mean_steps_terminal", "cpu_s_per_episode",
                "cpu_s_max", "wall_s"):
        print(f"{key:<22}{fmt(summary[key]):>10}")
    print(f"failures: {[r['seed'] for r in rows if not r['success']]}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"summary": summary, "episodes": rows}, f, indent=1)


if __name__ == "__main__":
    main()
