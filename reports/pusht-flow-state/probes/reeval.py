"""Validation success (seeds 9 000-9 099, sampling seed 5) of finished policy checkpoints, acting in eval mode.
Usage: python reeval.py CKPT [CKPT ...]"""
import sys

from hiwm.evaluation.runner import rollout
from hiwm.policies import load_policy
from hiwm.tasks.vector import SimVecEnv

for path in sys.argv[1:]:
    r = rollout(SimVecEnv("pusht"), load_policy(path), list(range(9000, 9100)), 300, seed=5, progress=False)
    print(path, "val sim", r.success.mean(), flush=True)
