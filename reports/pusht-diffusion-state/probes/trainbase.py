"""Train a base DP on the existing 40 demos with given steps/lr, eval on validation with 2 rollout seeds."""
import sys, json, time, shutil, numpy as np, torch
from pathlib import Path
from dataclasses import replace
from hiwm.pipeline import Pipeline, PipelineConfig
from hiwm.data import LeRobotDataset
from hiwm.evaluation.runner import rollout
from hiwm.tasks.vector import SimVecEnv
out = Path(sys.argv[1]); steps = int(sys.argv[2]); lr = float(sys.argv[3]); batch = int(sys.argv[4]) if len(sys.argv) > 4 else 64
demos_n = int(sys.argv[5]) if len(sys.argv) > 5 else 40
out.mkdir(parents=True, exist_ok=True)
if not (out / "data").exists() and demos_n == 40:
    shutil.copytree("runs/pusht-full-seed0/data", out / "data")
cfg = PipelineConfig(policy_steps=steps, policy_lr=lr, policy_batch=batch, demos=demos_n)
pl = Pipeline(cfg, out, progress=False)
demos, _ = pl.collect_data() if demos_n != 40 else (LeRobotDataset(out / "data/demos"), None)
t = time.time()
p = pl.base_policy(demos)
print("train s", round(time.time() - t), flush=True)
res = {}
for s in (5, 6):
    r = rollout(SimVecEnv("pusht"), p, list(range(9000, 9100)), 300, seed=s, progress=False)
    res[s] = float(r.success.mean())
    print("val", s, res[s], flush=True)
json.dump(res, open(out / "val.json", "w"))
