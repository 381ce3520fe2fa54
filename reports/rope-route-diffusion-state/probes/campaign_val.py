"""A Hi-WM campaign variant on a finished run's base + world model, fine-tuned the pipeline's way, scored on
the validation seeds 9 000-9 099 (sampling seed 5). Also scores the run's own policies there.
Usage: python campaign_val.py RUN_DIR OUT_DIR NAME OPERATOR_JSON   (NAME "existing" scores base/wm_cl/hiwm;
"control" fine-tunes on the demonstrations alone, the same steps)."""
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

src, out, name, opkw = Path(sys.argv[1]), Path(sys.argv[2]) / sys.argv[3], sys.argv[3], json.loads(sys.argv[4])
cfg = PipelineConfig(**json.loads((src / "config.json").read_text()))
seeds = list(range(VALIDATION_SEED, VALIDATION_SEED + 100))


def score(label, policy):
    r = rollout(SimVecEnv(cfg.task), policy, seeds, cfg.steps_per_episode, seed=5, progress=False)
    print(label, "val sim", r.success.mean(), flush=True)


if name == "existing":
    for v in ("base", "wm_cl", "hiwm"):
        score(v, load_policy(src / "policies" / v))
    sys.exit()
(out / "policies").mkdir(parents=True, exist_ok=True)
if not (out / "policies/base").exists():
    shutil.copytree(src / "policies/base", out / "policies/base")
pl = Pipeline(PipelineConfig(**{**cfg.__dict__, "eval_seed": VALIDATION_SEED}), out, progress=False)
base, wm = load_policy(src / "policies/base"), load_world_model(src / "world_model")
if name == "control":
    score(name, pl.finetune(name, LeRobotDataset(src / "data/demos"), None))
    sys.exit()
t = time.time()
cost = run_campaign(base, wm, list(range(SEEDS["hiwm"], SEEDS["hiwm"] + 1000)), out / "camp", OperatorConfig(**opkw),
                    progress=False, max_steps=cfg.steps_per_episode)
cost.pop("events")
print(name, "campaign", round(time.time() - t), cost, flush=True)
p = pl.finetune(name, LeRobotDataset(src / "data/demos"), pl.correction_windows(base, out / "camp/corrections"))
score(name, p)
