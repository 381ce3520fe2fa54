"""Policies scored in the simulator on more validation seeds than rounds_val.py's 100, to shrink the eval's
share of the noise: python reports/probes/val_wide.py N SAMPLING_SEED POLICY_DIR [POLICY_DIR ...]

Seeds 9 000 .. 9 000 + N (validation; never the held-out ones). Prints one JSON line per policy and appends it
to reports/probes/val_wide.jsonl.
"""
import json
import sys

from hiwm.evaluation.metrics import wilson_interval
from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED
from hiwm.policies import load_policy
from hiwm.tasks.vector import SimVecEnv

n, sampling = int(sys.argv[1]), int(sys.argv[2])
for path in sys.argv[3:]:
    res = rollout(SimVecEnv("pusht"), load_policy(path), list(range(VALIDATION_SEED, VALIDATION_SEED + n)), 300,
                  seed=sampling, progress=False)
    k = int(res.success.sum())
    row = {"policy": path, "episodes": n, "sampling_seed": sampling, "success": round(k / n, 3),
           "ci95": [round(x, 3) for x in wilson_interval(k, n)]}
    print(json.dumps(row), flush=True)
    with open("reports/probes/val_wide.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
