"""Re-fine-tune a finished run's base on its own Hi-WM corrections with another recipe; validation seeds.
Usage: python finetune_val.py RUN_DIR OUT_DIR NAME OUTCOMES(0|1) NEW_DATA_WEIGHT"""
import sys
from pathlib import Path
import json
import shutil

from hiwm.data import LeRobotDataset
from hiwm.evaluation.runner import rollout
from hiwm.pipeline import VALIDATION_SEED, Pipeline, PipelineConfig
from hiwm.policies import load_policy
from hiwm.session.export import correction_episodes
from hiwm.tasks.vector import SimVecEnv

src, out, name = Path(sys.argv[1]), Path(sys.argv[2]) / sys.argv[3], sys.argv[3]
outcomes, weight = bool(int(sys.argv[4])), float(sys.argv[5])
cfg = PipelineConfig(**{**json.loads((src / "config.json").read_text()), "new_data_weight": weight})
(out / "policies").mkdir(parents=True, exist_ok=True)
if not (out / "policies/base").exists():
    shutil.copytree(src / "policies/base", out / "policies/base")
pl = Pipeline(cfg, out, progress=False)
base = load_policy(src / "policies/base")
windows = pl._windows(correction_episodes(src / "hiwm/corrections", outcomes=outcomes), base, mask_key="train_mask")
p = pl.finetune(name, LeRobotDataset(src / "data/demos"), windows)
r = rollout(SimVecEnv(cfg.task), p, list(range(VALIDATION_SEED, VALIDATION_SEED + 100)), cfg.steps_per_episode,
            seed=5, progress=False)
print(name, "val sim", r.success.mean(), flush=True)
