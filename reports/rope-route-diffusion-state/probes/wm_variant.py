"""Another world model for a finished run (same data, same base), then the pipeline's Hi-WM campaign with it,
the pipeline's fine-tune, and validation success (seeds 9 000-9 099, sampling seed 5).
Usage: python wm_variant.py RUN_DIR OUT_DIR NAME WM_JSON WM_STEPS   (WM_JSON: EnsembleConfig overrides)"""
import json
import os
import sys
from pathlib import Path

from hiwm.data import LeRobotDataset
from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED, Pipeline, PipelineConfig
from hiwm.policies import load_policy
from hiwm.tasks.vector import SimVecEnv

src, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2]) / sys.argv[3]
wm_kw, steps = json.loads(sys.argv[4]), int(sys.argv[5])
cfg = json.loads((src / "config.json").read_text())
cfg.update(wm={"type": "ensemble", **wm_kw}, wm_steps=steps, eval_seed=VALIDATION_SEED)
for d in ("data", "policies/base"):
    (out / d).parent.mkdir(parents=True, exist_ok=True)
    if not (out / d).exists():
        os.symlink(src / d, out / d)
pl = Pipeline(PipelineConfig(**cfg), out, progress=False)
demos, play = LeRobotDataset(out / "data/demos"), LeRobotDataset(out / "data/play")
wm = pl.world_model(demos, play)
acc = pl.wm_accuracy(wm)
print("open-loop object_mm median by horizon:",
      {h: round(acc[h]["model"]["object_mm_median"], 1) for h in ("1", "5", "10", "20", "30", "100") if h in acc},
      "expert_in_model", acc.get("expert_in_model"),
      flush=True)
base = load_policy(out / "policies/base")
cost = pl.hiwm_data(base, wm)
print("campaign", {k: v for k, v in cost.items() if k != "events"}, flush=True)
p = pl.finetune("hiwm", demos, pl.correction_windows(base, out / "hiwm/corrections"))
r = rollout(SimVecEnv(cfg["task"]), p, list(range(VALIDATION_SEED, VALIDATION_SEED + 100)), pl.cfg.steps_per_episode,
            seed=5, progress=False)
print(sys.argv[3], "hiwm val sim", r.success.mean(), flush=True)
