"""Where a Push-T campaign's corrections start: python reports/probes/correction_states.py CORRECTIONS_DATASET

For each branch's first corrective step: the mean pusher-to-block distance (block = the T's reference point,
read off the predicted keypoints) over the 20 steps before it, the branch's judged outcome, and the depth.
Prints how many corrections start after the pusher had stayed over 70 px from the block, and the judged
success of the branches from those states and from the others; then, from the campaign's cost.json beside
the dataset, its failure states, sessions and median take-over depth (the rolled-back-to node).
"""
import json
import sys
from pathlib import Path

import numpy as np

from hiwm.data import LeRobotDataset
from hiwm.tasks.pusht import pose_from_keypoints

ds = LeRobotDataset(sys.argv[1])
rows = []
for i in range(ds.num_episodes):
    ep = ds.episode(i, decode_images=False)
    own = np.asarray(ep.get("on_branch", np.ones(len(ep["action"]), bool)), bool)
    starts = np.flatnonzero(ep["intervention"] & own)
    if not len(starts):
        continue
    t = int(starts[0])
    before = range(max(0, t - 20), t) or range(t, t + 1)
    gap = np.mean([np.linalg.norm(ep["observation.state"][k] - pose_from_keypoints(ep["observation.environment_state"][k])[:2])
                   for k in before])
    rows.append((gap, ds.episodes[i].get("outcome") == "success", t))
gap, won, depth = (np.array(c, dtype=float) for c in zip(*rows))
away = gap > 70
print(f"{len(rows)} corrections; {int(away.sum())} start after the pusher stayed > 70 px from the block")
print(f"judged branch success: from those {won[away].mean():.2f}, from the others {won[~away].mean():.2f}")
print(f"median depth: {np.median(depth[away]):.0f} and {np.median(depth[~away]):.0f} steps")
cost = json.loads((Path(sys.argv[1]).parent / "cost.json").read_text())
print(f"campaign: {cost['failure_states']} failure states over {cost['sessions']} sessions, median take-over depth "
      f"{np.median([e['depth'] for e in cost['events']]):.0f} steps")
