"""Closed-loop diagnostics of policies on validation seeds: success, max progress, action jitter."""
import sys
import numpy as np, torch
from hiwm.evaluation.runner import rollout
from hiwm.policies import load_policy
from hiwm.tasks.vector import SimVecEnv
n = int(sys.argv[1])
for path in sys.argv[2:]:
    p = load_policy(path)
    r = rollout(SimVecEnv("pusht"), p, list(range(9000, 9000 + n)), 300, seed=5, progress=False, record=True)
    jit, spd = [], []
    for ep in r.episodes:
        a = np.asarray(ep["action"])
        d = np.linalg.norm(np.diff(a, axis=0), axis=-1)
        spd.append(d.mean())
        # jump at chunk boundaries (every 8 steps) vs inside chunks
        jit.append((d[7::8].mean(), np.delete(d, np.s_[7::8]).mean()))
    jit = np.asarray(jit)
    print(path, "succ", r.success.mean(), "maxprog", np.round(np.mean(r.max_progress), 3),
          "step-to-step px", np.round(np.mean(spd), 1), "boundary/inside", np.round(jit.mean(0), 1), flush=True)
