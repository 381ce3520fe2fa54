"""How long a policy keeps the T by a wall, in the simulator and in the world model:
python reports/probes/wall_time.py POLICY_DIR WORLD_MODEL_DIR

Validation seeds 9 000-9 099, sampling seed 5: successes, and the episodes whose T's body origin stays within
60 px of a wall for over 50 steps, with how many of them fail.
"""
import json
import sys

import numpy as np

from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED
from hiwm.policies import load_policy
from hiwm.tasks.vector import SimVecEnv
from hiwm.world_models import WorldModelVecEnv, load_world_model

policy, wm = load_policy(sys.argv[1]), load_world_model(sys.argv[2])
seeds = list(range(VALIDATION_SEED, VALIDATION_SEED + 100))
for kind, env in (("sim", SimVecEnv("pusht")), ("wm", WorldModelVecEnv(wm))):
    res = rollout(env, policy, seeds, 300, seed=5, record=True, progress=False)
    near = np.array([(np.minimum(ep["scene"][:, 2:4], 512 - ep["scene"][:, 2:4]).min(1) < 60).sum() > 50
                     for ep in res.episodes])
    print(json.dumps({"in": kind, "success": int(res.success.sum()), "by_a_wall": int(near.sum()),
                      "by_a_wall_failed": int((near & ~res.success).sum())}), flush=True)
