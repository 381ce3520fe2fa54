"""Validation probe for what a run's Hi-WM corrections add to fine-tuning (session/export.py:
correction_episodes options): python reports/probes/outcomes_val.py RUN NAME '{"outcomes": false}'

Fine-tunes RUN's base the pipeline's way on demos + the chosen part of RUN's hiwm/corrections, into
runs/val/NAME, and evaluates it in the simulator on the validation seeds 9 000-9 099; "base" as NAME
evaluates the base itself. Prints one JSON line and appends it to reports/probes/validation.jsonl.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

from hiwm.data import LeRobotDataset
from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED, Pipeline, PipelineConfig
from hiwm.session.export import correction_episodes
from hiwm.tasks.vector import SimVecEnv

src, name = Path(sys.argv[1]).resolve(), sys.argv[2]
kw = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
cfg = PipelineConfig(**json.loads((src / "config.json").read_text()))
out = Path("runs/val") / name
(out / "policies").mkdir(parents=True, exist_ok=True)
if not (out / "policies/base").exists():
    (out / "policies/base").symlink_to(src / "policies/base")
pl = Pipeline(cfg, out, progress=False)
t = time.time()
base = pl.base_policy(None)
demos = LeRobotDataset(src / "data/demos")
row = {"run": str(src.name), "name": name, **kw}
if name == "base":
    policy = base
else:
    eps = correction_episodes(src / "hiwm/corrections", **kw)
    row["trained_frames"] = int(sum(ep["train_mask"].sum() for ep in eps))
    policy = pl.finetune("hiwm", demos, pl._windows(eps, base, mask_key="train_mask") if eps else None)
res = rollout(SimVecEnv(cfg.task), policy, list(range(VALIDATION_SEED, VALIDATION_SEED + 100)),
              cfg.steps_per_episode, seed=cfg.seed + 5, progress=False)
row.update(val_sim=int(np.sum(res.success)), wall_s=round(time.time() - t))
print(json.dumps(row), flush=True)
with open("reports/probes/validation.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
