import numpy as np
from hiwm.policies import load_policy
from hiwm.evaluation.runner import rollout
from hiwm.tasks.vector import SimVecEnv
import sys
p = load_policy(sys.argv[1] if len(sys.argv) > 1 else "runs/pusht-s3/policies/base")
r = rollout(SimVecEnv("pusht"), p, list(range(9000, 9040)), 300, seed=5, progress=False, record=True)
for i, ep in enumerate(r.episodes):
    sc = np.array(ep["scene"]); a = np.array(ep["action"])
    agent, blk = sc[:, :2], sc[:, 2:5]
    moved = np.linalg.norm(np.diff(blk[:, :2], axis=0), axis=1)
    last_move = np.flatnonzero(moved > 0.5)
    lm = last_move[-1] if len(last_move) else -1
    d_agent_blk = np.linalg.norm(agent - blk[:, :2], axis=1)
    print(i, "S" if r.success[i] else "F", f"maxcov {r.max_progress[i]:.2f}", "steps", r.steps[i], "block last moved", lm,
          f"agent-block dist end {d_agent_blk[-1]:.0f}", f"agent travel last100 {np.linalg.norm(np.diff(agent[-100:],axis=0),axis=1).sum():.0f}",
          "block", np.round(blk[-1]).tolist())
fails = [i for i in range(len(r.episodes)) if not r.success[i]]
end = {i: np.array(r.episodes[i]["scene"])[-1, 2:4] for i in fails}
near = [i for i in fails if end[i].min() < 100 or end[i].max() > 412]  # initial blocks lie in [100, 400]^2
idle = [i for i in fails if (np.linalg.norm(np.diff(np.array(r.episodes[i]["scene"])[:, 2:4], axis=0), axis=1) > 0.5)[150:].sum() == 0]
print(f"{len(fails)} failures of {len(r.episodes)}; block ends outside [100, 412]^2: {len(near)}; block untouched in the last 150 steps: {len(idle)}")
