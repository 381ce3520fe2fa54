"""Fine-tune variants on the v6000 run's data; eval on validation (seed 5)."""
import sys, json, shutil
from pathlib import Path
import numpy as np
from hiwm.pipeline import Pipeline, PipelineConfig, VALIDATION_SEED
from hiwm.data import LeRobotDataset
from hiwm.session.export import correction_episodes
from hiwm.policies import load_policy
from hiwm.evaluation.runner import rollout
from hiwm.tasks.vector import SimVecEnv
name = sys.argv[1]; kind = sys.argv[2]; steps = int(sys.argv[3])
src = Path("/tmp/exp/v6000"); out = Path("/tmp/exp/ft") / name
(out / "policies").mkdir(parents=True, exist_ok=True)
if not (out / "policies/base").exists():
    shutil.copytree(src / "policies/base", out / "policies/base")
cfg = PipelineConfig(eval_seed=VALIDATION_SEED, policy_steps=6000, finetune_steps=steps)
pl = Pipeline(cfg, out, progress=False)
base = load_policy(src / "policies/base")
demos = LeRobotDataset(src / "data/demos")
if kind == "demos":
    new = None
elif kind == "corr":
    new = pl.correction_windows(base, src / "hiwm/corrections")
elif kind == "corr+out":
    eps = correction_episodes(src / "hiwm/corrections")
    ds = LeRobotDataset(src / "hiwm/corrections")
    outc = {r["episode_index"]: r["outcome"] for r in ds.episodes}
    for i in range(ds.num_episodes):
        ep = ds.episode(i, decode_images=False)
        if outc[i] != "success":
            continue
        succ = np.flatnonzero(ep["next.success"])
        first = succ[0] if len(succ) else len(succ)
        mask = ep["on_branch"] & (np.arange(len(ep["action"])) <= first) & ~ep["intervention"]
        if mask.any():
            ep["train_mask"] = mask
            eps.append(ep)
    new = pl._windows(eps, base, mask_key="train_mask")
p = pl.finetune(name, demos, new)
r = rollout(SimVecEnv("pusht"), p, list(range(9000, 9100)), 300, seed=5, progress=False)
print(name, "val sim", r.success.mean(), flush=True)
