"""A Hi-WM campaign variant on runs/pusht-s3's base + WM, fine-tuned the pipeline's way; validation eval."""
import sys, json, time, shutil
from pathlib import Path
from hiwm.pipeline import Pipeline, PipelineConfig, VALIDATION_SEED, SEEDS
from hiwm.data import LeRobotDataset
from hiwm.session.campaign import run_campaign
from hiwm.session.operators import OperatorConfig
from hiwm.world_models import load_world_model
from hiwm.policies import load_policy
from hiwm.evaluation.runner import rollout
from hiwm.tasks.vector import SimVecEnv
name, opkw = sys.argv[1], json.loads(sys.argv[2])
src = Path("/work/main/runs/pusht-s3"); out = Path("/tmp/exp/s4/camp") / name
(out / "policies").mkdir(parents=True, exist_ok=True)
if not (out / "policies/base").exists():
    shutil.copytree(src / "policies/base", out / "policies/base")
pl = Pipeline(PipelineConfig(eval_seed=VALIDATION_SEED), out, progress=False)
base = load_policy(src / "policies/base"); wm = load_world_model(src / "world_model")
t = time.time()
cost = run_campaign(base, wm, list(range(SEEDS["hiwm"], SEEDS["hiwm"] + 1000)), out / "camp", OperatorConfig(**opkw), progress=False)
cost.pop("events"); print(name, "campaign", round(time.time() - t), cost, flush=True)
demos = LeRobotDataset(src / "data/demos")
cw = pl.correction_windows(base, out / "camp/corrections")
print("windows", len(cw) if hasattr(cw, "__len__") else cw, flush=True)
p = pl.finetune(name, demos, cw)
r = rollout(SimVecEnv("pusht"), p, list(range(9000, 9100)), 300, seed=5, progress=False)
print(name, "val sim", r.success.mean(), round(time.time() - t), flush=True)
