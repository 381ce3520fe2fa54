"""Fine-tuning recipe probe on a finished campaign: python reports/probes/recipe_val.py RUN NAME 'JSON'

RUN is a runs/val/<name> folder (rounds_val.py) holding data/demos, policies/base and hiwm/corrections. The base is
fine-tuned on demos + the campaign's correction windows built with the JSON's options, then scored in the simulator
on validation seeds 9 000 .. 9 000 + episodes (sampling seed 13). Options (defaults = the pipeline's):
  outcomes (true): add a successful branch's recovery after the hand-back
  recovery_cap (null): at most this many recovery steps after the hand-back
  weight (0.5): share of each batch from the corrections;  steps (3000);  lr_div (3);  seed (8);  episodes (300)
  control (false): fine-tune on the demonstrations alone, the same steps (what more training alone gives)
One JSON line is printed and appended to reports/probes/recipe_val.jsonl.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

from hiwm.data import LeRobotDataset, WindowMixture
from hiwm.evaluation.metrics import wilson_interval
from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED, Pipeline, PipelineConfig
from hiwm.policies import load_policy
from hiwm.session.export import correction_episodes
from hiwm.tasks import task_class
from hiwm.tasks.vector import SimVecEnv
from hiwm.training import train

run, name = Path(sys.argv[1]), sys.argv[2]
opt = {"outcomes": True, "recovery_cap": None, "weight": 0.5, "steps": 3000, "lr_div": 3.0, "seed": 8, "episodes": 300,
       **(json.loads(sys.argv[3]) if len(sys.argv) > 3 else {})}
t0 = time.time()
cfg = PipelineConfig(**json.loads((run / "config.json").read_text()))
pl = Pipeline.__new__(Pipeline)  # only its helpers: no run folder of its own
pl.cfg, pl.dir, pl.task, pl.progress = cfg, run, task_class(cfg.task), False
episodes = correction_episodes(run / "hiwm" / "corrections", outcomes=opt["outcomes"])
if opt["recovery_cap"] is not None:
    for ep in episodes:
        m = ep["train_mask"]
        corr = np.flatnonzero(ep["intervention"] & m)
        if len(corr):
            m[corr[-1] + 1 + opt["recovery_cap"]:] = False
policy = load_policy(run / "policies" / "base")
demos = pl._windows([LeRobotDataset(run / "data" / "demos")], policy)
new = pl._windows(episodes, policy, mask_key="train_mask")
sampler = demos if opt.get("control") else WindowMixture([demos, new], [1 - opt["weight"], opt["weight"]])
tc = pl._train_cfg(opt["steps"], cfg.policy_batch, cfg.policy_lr / opt["lr_div"], 4)
tc.seed = opt["seed"] + 4
train(policy, sampler.sample, tc, progress=False)
out = Path("runs/recipe") / name
policy.save(out)
n = opt["episodes"]
res = rollout(SimVecEnv(cfg.task), policy, list(range(VALIDATION_SEED, VALIDATION_SEED + n)), 300, seed=13, progress=False)
k = int(res.success.sum())
row = {"run": str(run), "name": name, **opt, "windows": len(new), "success": round(k / n, 3),
       "ci95": [round(x, 3) for x in wilson_interval(k, n)], "wall_s": round(time.time() - t0)}
print(json.dumps(row), flush=True)
with open("reports/probes/recipe_val.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
