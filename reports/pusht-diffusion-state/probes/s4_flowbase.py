"""Flow base variants on runs/pusht-s3's 40 demos; validation success (sampling seed 5)."""
import sys, json, time
from pathlib import Path
from hiwm.pipeline import Pipeline, PipelineConfig, VALIDATION_SEED
from hiwm.data import LeRobotDataset
from hiwm.evaluation.runner import rollout
from hiwm.tasks.vector import SimVecEnv
name, pol, lr, steps = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
out = Path("/tmp/exp/s4/flow") / name
pl = Pipeline(PipelineConfig(policy={"type": "flow", **pol}, policy_lr=lr, policy_steps=steps, eval_seed=VALIDATION_SEED), out, progress=False)
t = time.time()
p = pl.base_policy(LeRobotDataset("/work/main/runs/pusht-s3/data/demos"))
tt = time.time() - t
r = rollout(SimVecEnv("pusht"), p, list(range(9000, 9100)), 300, seed=5, progress=False)
print(name, pol, lr, steps, "val sim", r.success.mean(), "train s", round(tt), flush=True)
