"""How often a Push-T policy shoves the T against a wall, and what comes of it:
python reports/probes/wall_entries.py POLICY_DIR [POLICY_DIR ...]

Per policy, in the simulator on the validation seeds 9 000-9 099 (sampling seed 5): successes, the episodes
whose T enters the at-risk zone (outline within RISK_WALL_PX of a wall, ``PushTTask.at_risk``) after starting
outside it, and how many of those fail, next to the failures of the others.
"""
import json
import sys

import numpy as np

from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED
from hiwm.policies import load_policy
from hiwm.tasks.pusht import RISK_WALL_PX, wall_gap
from hiwm.tasks.vector import SimVecEnv

seeds = list(range(VALIDATION_SEED, VALIDATION_SEED + 100))
for path in sys.argv[1:]:
    res = rollout(SimVecEnv("pusht"), load_policy(path), seeds, 300, seed=5, record=True, progress=False)
    gaps = [wall_gap(ep["scene"][:, 2:5]) for ep in res.episodes]
    entered = np.array([g[0] >= RISK_WALL_PX and (g < RISK_WALL_PX).any() for g in gaps])
    print(json.dumps({"policy": path, "success": int(res.success.sum()), "entered": int(entered.sum()),
                      "entered_failed": int((entered & ~res.success).sum()),
                      "others_failed": int((~entered & ~res.success).sum())}), flush=True)
