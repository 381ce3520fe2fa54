"""Flow base variant on a run folder's demonstrations: train (the pipeline's base stage), open-loop error on its
training windows, validation success (seeds 9 000-9 099, sampling seed 5).
Usage: python flowbase.py NAME POLICY_JSON LR STEPS   (reads runs/pusht-s6/data/demos, writes /tmp/exp/flow/NAME)"""
import sys, json, time
from pathlib import Path
import numpy as np, torch
from hiwm.pipeline import Pipeline, PipelineConfig, VALIDATION_SEED
from hiwm.data import LeRobotDataset, EpisodeWindows
from hiwm.evaluation.runner import rollout
from hiwm.tasks.vector import SimVecEnv
name, pol, lr, steps = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
out = Path("/tmp/exp/flow") / name
pl = Pipeline(PipelineConfig(policy={"type": "flow", **pol}, policy_lr=lr, policy_steps=steps, eval_seed=VALIDATION_SEED), out, progress=False)
demos = LeRobotDataset("runs/pusht-s6/data/demos")
t = time.time()
p = pl.base_policy(demos)
tt = time.time() - t
pc = p.config
w = EpisodeWindows([demos], obs_keys=pc.input_features, n_obs_steps=pc.n_obs_steps, horizon=pc.horizon)
b = w.sample(256, torch.Generator().manual_seed(0))
pred = p.predict_action_chunk({k: b[k] for k in pc.input_features}, torch.Generator().manual_seed(1)).numpy()
err = np.linalg.norm(pred - np.asarray(b["action"])[:, :pc.n_action_steps], axis=-1)
r = rollout(SimVecEnv("pusht"), p, list(range(9000, 9100)), 300, seed=5, progress=False)
res = dict(name=name, policy=pol, lr=lr, steps=steps, val_success=float(r.success.mean()), train_s=round(tt),
           first_px=float(err[:, 0].mean()), chunk_px=float(err.mean()),
           final_loss=json.loads((out / "policies/base/train.json").read_text())["final_loss"])
print(json.dumps(res), flush=True)
with open("/tmp/exp/flow/results.jsonl", "a") as f:
    f.write(json.dumps(res) + "\n")
