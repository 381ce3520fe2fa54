"""Where a Push-T policy fails without ever covering the goal: python reports/probes/far_failures.py RUN NAME

Reads RUN/eval/NAME.json (validation seeds 9 000-9 099), re-rolls out in the simulator the episodes whose
coverage never left 0, and prints per episode the block's start and end, its least distance to a wall and the
steps it spent within 60 px of one, the pusher's distance to the block every 25 steps and its mean speed per
25 steps (px, px/step). First line: successes, failures that never cover the goal, and the other failures.
"""
import json
import sys

import numpy as np

from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED
from hiwm.policies import load_policy
from hiwm.tasks.vector import SimVecEnv

run, name = sys.argv[1], sys.argv[2]
ev = json.load(open(f"{run}/eval/{name}.json"))["sim"]
seeds = [VALIDATION_SEED + i for i, m in enumerate(ev["max_progress"]) if m < 0.01]
won = sum(ev["success"])
print(f"{won} successes, {len(seeds)} failures that never cover the goal, {len(ev['success']) - won - len(seeds)} others")
res = rollout(SimVecEnv("pusht"), load_policy(f"{run}/policies/{name}"), seeds, 300, seed=5, record=True,
              progress=False)
for s, ep, reached in zip(seeds, res.episodes, res.max_progress):
    scene = ep["scene"]  # (T+1, 7): pusher xy, block x, y, angle
    block, pusher = scene[:, 2:4], scene[:, :2]
    gap = np.linalg.norm(pusher - block, axis=1)
    speed = np.linalg.norm(np.diff(pusher, axis=0), axis=1)
    print(s, f"max coverage {reached:.2f}", "block", block[0].round().tolist(), "->", block[-1].round().tolist(),
          f"closest wall {np.minimum(block, 512 - block).min():.0f}",
          f"steps near a wall {int((np.minimum(block, 512 - block).min(1) < 60).sum())}",
          "pusher-block", gap[::25].round().astype(int).tolist(),
          "speed", [round(float(speed[i:i + 25].mean()), 1) for i in range(0, len(speed), 25)])
