"""Fine-tune recipe variants on runs/pusht-s3 (its base, demos and Hi-WM corrections with outcomes); validation eval."""
import sys, shutil, time
from pathlib import Path
from hiwm.pipeline import Pipeline, PipelineConfig, VALIDATION_SEED
from hiwm.data import LeRobotDataset
from hiwm.policies import load_policy
from hiwm.evaluation.runner import rollout
from hiwm.tasks.vector import SimVecEnv
name, w, lr, steps = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
corr = Path(sys.argv[5]) if len(sys.argv) > 5 else None
src = Path("/work/main/runs/pusht-s3"); out = Path("/tmp/exp/s4/ft") / name
(out / "policies").mkdir(parents=True, exist_ok=True)
if not (out / "policies/base").exists():
    shutil.copytree(src / "policies/base", out / "policies/base")
pl = Pipeline(PipelineConfig(eval_seed=VALIDATION_SEED, new_data_weight=w, policy_lr=lr, finetune_steps=steps), out, progress=False)
base = load_policy(src / "policies/base")
demos = LeRobotDataset(src / "data/demos")
t = time.time()
if name == "base":
    p = base
else:
    p = pl.finetune(name, demos, pl.correction_windows(base, corr or src / "hiwm/corrections"))
r = rollout(SimVecEnv("pusht"), p, list(range(9000, 9100)), 300, seed=5, progress=False)
print(name, w, lr, steps, "val sim", r.success.mean(), round(time.time() - t), flush=True)
