import sys, time, numpy as np, torch
from hiwm.policies import load_policy
from hiwm.evaluation.runner import rollout
from hiwm.tasks.vector import SimVecEnv
torch.set_num_threads(2)
p = load_policy(sys.argv[1])
for start in (100000, 9000):
    for s in (5, 6):
        t=time.time()
        r = rollout(SimVecEnv("pusht"), p, list(range(start, start+100)), 300, seed=s, progress=False)
        print(start, s, r.success.mean(), round(time.time()-t), flush=True)
