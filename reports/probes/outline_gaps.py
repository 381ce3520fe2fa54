"""How far the pusher stays from the T itself (its outline, not its body origin) in a policy's no-cover
failures: python reports/probes/outline_gaps.py RUN NAME

First line: the demonstrations' median pusher-outline gap and the share of frames over 30 / 60 px. Then per
no-cover failure (validation seeds, re-rolled out with sampling seed 5): the gap every 25 steps and the share
of steps over 30 px (gap = distance to the outline minus the pusher's radius; <= 0 is contact).
"""
import json
import sys

import numpy as np
import shapely

from hiwm.data import LeRobotDataset
from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED
from hiwm.policies import load_policy
from hiwm.tasks.pusht import AGENT_RADIUS, T_OUTLINE, pose_from_keypoints, transform
from hiwm.tasks.vector import SimVecEnv


def gaps(agent, pose):
    return np.array([shapely.Polygon(transform(T_OUTLINE, p)).distance(shapely.Point(a)) - AGENT_RADIUS
                     for a, p in zip(agent, pose)])


run, name = sys.argv[1], sys.argv[2]
demos = LeRobotDataset(f"{run}/data/demos")
g = np.concatenate([gaps(ep["observation.state"], pose_from_keypoints(ep["observation.environment_state"]))
                    for ep in (demos.episode(i, decode_images=False) for i in range(demos.num_episodes))])
print(f"demos: median gap {np.median(g):.0f} px, over 30 px {(g > 30).mean():.2f}, over 60 px {(g > 60).mean():.2f}")
ev = json.load(open(f"{run}/eval/{name}.json"))["sim"]
seeds = [VALIDATION_SEED + i for i, m in enumerate(ev["max_progress"]) if m < 0.01]
res = rollout(SimVecEnv("pusht"), load_policy(f"{run}/policies/{name}"), seeds, 300, seed=5, record=True,
              progress=False)
for seed, ep in zip(seeds, res.episodes):
    gg = gaps(ep["scene"][:, :2], ep["scene"][:, 2:5])
    print(seed, "gap every 25 steps", gg[::25].round().astype(int).tolist(), f"over 30 px {(gg > 30).mean():.2f}")
