"""The run's three policies on the held-out seeds again with another sampling seed: how much of a gap is noise.
Usage: python sampling_seed.py RUN_DIR SAMPLING_SEED"""
import sys
from pathlib import Path

from hiwm.evaluation.runner import rollout
from hiwm.policies import load_policy
from hiwm.tasks.vector import SimVecEnv

run, seed = Path(sys.argv[1]), int(sys.argv[2])
for variant in ("base", "wm_cl", "hiwm"):
    r = rollout(SimVecEnv("pusht"), load_policy(run / "policies" / variant), list(range(100_000, 100_100)), 300,
                seed=seed, progress=False)
    print(variant, "held-out sim, sampling seed", seed, r.success.mean(), flush=True)
