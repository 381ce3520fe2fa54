"""Inference-time settings of a trained policy, scored in the simulator on the validation seeds:
python reports/probes/act_settings.py POLICY_DIR 'JSON_LIST_OF_CONFIG_OVERRIDES' [EPISODES]

e.g. '[{}, {"n_action_steps": 16}, {"num_inference_steps": 20}]': one line per setting (successes / episodes).
Nothing is retrained; only how the policy acts changes.
"""
import json
import sys

from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED
from hiwm.policies import load_policy
from hiwm.tasks.vector import SimVecEnv

path, settings = sys.argv[1], json.loads(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 100
for over in settings:
    policy = load_policy(path)
    for k, v in over.items():
        setattr(policy.config, k, v)
    res = rollout(SimVecEnv("pusht"), policy, list(range(VALIDATION_SEED, VALIDATION_SEED + n)), 300, seed=5,
                  progress=False)
    print(json.dumps({"policy": path, **over, "success": int(res.success.sum()), "episodes": n}), flush=True)
