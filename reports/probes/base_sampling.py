"""One policy scored in the simulator on the validation seeds under several sampling seeds (the diffusion
noise only): python reports/probes/base_sampling.py POLICY_DIR SEED [SEED ...]

rounds_val.py scores each variant with sampling seed PipelineConfig.seed + 5, so a probe run with "seed": 81
is compared with its base at sampling seed 86.
"""
import json
import sys

from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED
from hiwm.policies import load_policy
from hiwm.tasks.vector import SimVecEnv

policy = load_policy(sys.argv[1])
for seed in map(int, sys.argv[2:]):
    res = rollout(SimVecEnv("pusht"), policy, list(range(VALIDATION_SEED, VALIDATION_SEED + 100)), 300, seed=seed,
                  progress=False)
    print(json.dumps({"policy": sys.argv[1], "sampling_seed": seed, "success": int(res.success.sum())}), flush=True)
