"""How often a Push-T policy shoves the T against a wall, and what comes of it:
python reports/probes/wall_entries.py [--demos=DATASET] POLICY_DIR [POLICY_DIR ...]

Per policy, in the simulator on the validation seeds 9 000-9 099 (sampling seed 5): successes, the episodes
whose T enters the at-risk zone (outline within RISK_WALL_PX of a wall, ``PushTTask.at_risk``) after starting
outside it, and how many of those fail, next to the failures of the others. With --demos, first the
demonstrations' episodes that enter it and that start inside it.
"""
import json
import sys

import numpy as np

from hiwm.data import LeRobotDataset
from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED
from hiwm.policies import load_policy
from hiwm.tasks.pusht import RISK_WALL_PX, pose_from_keypoints, wall_gap
from hiwm.tasks.vector import SimVecEnv

seeds = list(range(VALIDATION_SEED, VALIDATION_SEED + 100))
for arg in sys.argv[1:]:
    if arg.startswith("--demos="):
        ds = LeRobotDataset(arg.split("=", 1)[1])
        gaps = [wall_gap(pose_from_keypoints(ds.episode(i, decode_images=False)["observation.environment_state"]))
                for i in range(ds.num_episodes)]
        print(json.dumps({"demos": ds.num_episodes, "entered": sum(bool(g[0] >= RISK_WALL_PX and (g < RISK_WALL_PX).any())
                                                                    for g in gaps),
                          "start_inside": sum(bool(g[0] < RISK_WALL_PX) for g in gaps)}), flush=True)
for path in [a for a in sys.argv[1:] if not a.startswith("--")]:
    res = rollout(SimVecEnv("pusht"), load_policy(path), seeds, 300, seed=5, record=True, progress=False)
    gaps = [wall_gap(ep["scene"][:, 2:5]) for ep in res.episodes]
    entered = np.array([g[0] >= RISK_WALL_PX and (g < RISK_WALL_PX).any() for g in gaps])
    print(json.dumps({"policy": path, "success": int(res.success.sum()), "entered": int(entered.sum()),
                      "entered_failed": int((entered & ~res.success).sum()),
                      "others_failed": int((~entered & ~res.success).sum())}), flush=True)
