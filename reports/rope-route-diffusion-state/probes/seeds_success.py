"""A rope-route policy's simulator success on a seed range, e.g. its own training layouts against new ones.
Usage: python seeds_success.py POLICY_DIR FIRST_SEED END_SEED"""
import sys

from hiwm.evaluation.runner import rollout
from hiwm.policies import load_policy
from hiwm.tasks.vector import SimVecEnv

policy = load_policy(sys.argv[1])
seeds = list(range(int(sys.argv[2]), int(sys.argv[3])))
res = rollout(SimVecEnv("rope-route"), policy, seeds, 300, seed=5, progress=False)
print(f"{sys.argv[1]} seeds {seeds[0]}-{seeds[-1]}: {100 * res.success.mean():.0f}% of {len(seeds)}")
