"""A Hi-WM campaign variant on a finished run's base + world model, fine-tuned the pipeline's way, judged on the
validation seeds 9 000-9 099 (sampling seed 5). Also evaluates the run's own policies there with NAME "run".
Usage: python campaign_val.py RUN_DIR NAME OPERATOR_JSON   (outputs under /tmp/exp/camp/NAME)"""
import json
import shutil
import sys
import time
from pathlib import Path

from hiwm.data import LeRobotDataset
from hiwm.evaluation.runner import rollout
from hiwm.pipeline import SEEDS, VALIDATION_SEED, Pipeline, PipelineConfig
from hiwm.policies import load_policy
from hiwm.session.campaign import run_campaign
from hiwm.session.operators import OperatorConfig
from hiwm.tasks.vector import SimVecEnv
from hiwm.world_models import load_world_model

src, name, opkw = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
val = list(range(VALIDATION_SEED, VALIDATION_SEED + 100))
if name == "run":
    for variant in ("base", "wm_cl", "hiwm"):
        r = rollout(SimVecEnv("pusht"), load_policy(src / "policies" / variant), val, 300, seed=5, progress=False)
        print(variant, "val sim", r.success.mean(), flush=True)
    sys.exit()
cfg = json.loads((src / "config.json").read_text())
cfg.update(eval_seed=VALIDATION_SEED)
out = Path("/tmp/exp/camp") / name
(out / "policies").mkdir(parents=True, exist_ok=True)
if not (out / "policies/base").exists():
    shutil.copytree(src / "policies/base", out / "policies/base")
pl = Pipeline(PipelineConfig(**cfg), out, progress=False)
base, wm = load_policy(src / "policies/base"), load_world_model(src / "world_model")
t = time.time()
cost = run_campaign(base, wm, list(range(SEEDS["hiwm"], SEEDS["hiwm"] + 1000)), out / "camp", OperatorConfig(**opkw),
                    progress=False)
cost.pop("events")
print(name, "campaign", round(time.time() - t), cost, flush=True)
p = pl.finetune(name, LeRobotDataset(src / "data/demos"), pl.correction_windows(base, out / "camp/corrections"))
r = rollout(SimVecEnv("pusht"), p, val, 300, seed=5, progress=False)
print(name, "val sim", r.success.mean(), round(time.time() - t), flush=True)
