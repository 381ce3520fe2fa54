"""Diagnostic: a correction campaign variant on the v6000 run's base + WM, fine-tuned the pipeline's way, val eval."""
import sys, json, time
from pathlib import Path
import numpy as np
from hiwm.pipeline import Pipeline, PipelineConfig, VALIDATION_SEED, SEEDS
from hiwm.data import LeRobotDataset
from hiwm.session.campaign import run_campaign
from hiwm.session.operators import OperatorConfig
from hiwm.world_models import SimulatorModel, load_world_model
from hiwm.policies import load_policy
from hiwm.evaluation.runner import rollout
from hiwm.tasks.vector import SimVecEnv
name, where, opkw = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
src = Path("/tmp/exp/v6000")
out = Path("/tmp/exp/var") / name
out.mkdir(parents=True, exist_ok=True)
cfg = PipelineConfig(eval_seed=VALIDATION_SEED, policy_steps=6000)
pl = Pipeline(cfg, src, progress=False)
base = load_policy(src / "policies/base")
model = SimulatorModel() if where == "sim" else load_world_model(src / "world_model")
t = time.time()
seeds = list(range(SEEDS["hiwm"], SEEDS["hiwm"] + 1000))
cost = run_campaign(base, model, seeds, out / "camp", OperatorConfig(**opkw), progress=False)
cost.pop("events")
print("campaign", round(time.time() - t), cost, flush=True)
demos = LeRobotDataset(src / "data/demos")
pl.dir = out  # finetune writes policies/<name> under out; base loaded from out/policies/base
(out / "policies").mkdir(exist_ok=True)
import shutil
if not (out / "policies/base").exists():
    shutil.copytree(src / "policies/base", out / "policies/base")
p = pl.finetune("ft", demos, pl.correction_windows(base, out / "camp" / "corrections"))
r = rollout(SimVecEnv("pusht"), p, list(range(9000, 9100)), 300, seed=5, progress=False)
print("val sim", r.success.mean(), flush=True)
