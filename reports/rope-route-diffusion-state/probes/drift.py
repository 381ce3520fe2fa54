"""How far the world model's imagined corrections drift from the simulator along the same actions.

Each exported branch (root -> leaf) of a run's Hi-WM corrections is replayed in the simulator from its initial
seed with the branch's own actions; the predicted scene at every frame is compared with the real one (the codec's
errors, mm), next to the ensemble's disagreement re-computed along the same path. Also: how many branches the
model judged successful really succeed when their actions are replayed.
Usage: python drift.py RUN_DIR [OUT_JSON]"""
import json
import sys
from pathlib import Path

import numpy as np

from hiwm.data import LeRobotDataset
from hiwm.session.export import correction_episodes
from hiwm.tasks import make_task
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.world_models import load_world_model

run = Path(sys.argv[1])
cfg = json.loads((run / "config.json").read_text())
wm = load_world_model(run / "world_model")
env = make_task(cfg["task"], images=False)
ds = LeRobotDataset(run / "hiwm/corrections")
eps = correction_episodes(run / "hiwm/corrections", outcomes=True)
rows = []
for i, ep in enumerate(eps):
    meta = ds.episodes[int(ep["episode_index"][0])] if "episode_index" in ep else None
    seed = int(meta["initial_seed"])
    obs, _ = env.reset(seed=seed)
    real = [env.scene()]
    for a in ep["action"]:
        obs, *_ = env.step(a)
        real.append(env.scene())
    real = np.stack(real[:-1])
    pred = env.scene_of({STATE_KEY: ep[STATE_KEY], ENV_KEY: ep[ENV_KEY]})
    err = wm.codec.errors(pred, real)
    state = wm.initial_state({k: np.asarray(v)[None] for k, v in wm.observation_for_seed(seed).items()})
    unc = [0.0]
    for a in ep["action"][:-1]:
        state, _, info = wm.step(state, a[None], judge=False)
        unc.append(float(info["uncertainty"][0]))
    m = ep["train_mask"]
    real_success = any(env.is_success(s) for s in real[np.flatnonzero(m)[0]:]) if m.any() else False
    rows.append({"seed": seed, "outcome": meta.get("outcome"), "frames": len(m), "masked": int(m.sum()),
                 "obj_mm_masked_median": float(np.median(err["object_mm"][m])),
                 "worst_mm_masked_median": float(np.median(err["worst_point_mm"][m])),
                 "obj_mm_at_first_mask": float(err["object_mm"][np.flatnonzero(m)[0]]),
                 "obj_mm_end": float(err["object_mm"][-1]), "real_success_after_start": bool(real_success),
                 "unc": unc, "obj_mm": err["object_mm"].tolist(), "mask": m.tolist()})
    print(i, rows[-1]["outcome"], rows[-1]["masked"], round(rows[-1]["obj_mm_masked_median"], 1),
          round(rows[-1]["obj_mm_end"], 1), rows[-1]["real_success_after_start"], flush=True)
obj = np.concatenate([np.asarray(r["obj_mm"])[np.asarray(r["mask"])] for r in rows])
unc = np.concatenate([np.asarray(r["unc"])[np.asarray(r["mask"])] for r in rows])
succ = [r for r in rows if r["outcome"] == "success"]
summary = {"branches": len(rows), "masked_frames": int(len(obj)),
           "obj_mm_masked_quantiles_25_50_75_90": np.percentile(obj, [25, 50, 75, 90]).round(1).tolist(),
           "pearson_unc_vs_obj_mm": float(np.corrcoef(unc, obj)[0, 1]),
           "spearman_unc_vs_obj_mm": float(np.corrcoef(np.argsort(np.argsort(unc)), np.argsort(np.argsort(obj)))[0, 1]),
           "judged_success": len(succ), "judged_success_real_too": sum(r["real_success_after_start"] for r in succ),
           "unc_quantiles_25_50_75_90": np.percentile(unc, [25, 50, 75, 90]).tolist()}
print(json.dumps(summary, indent=1))
if len(sys.argv) > 2:
    Path(sys.argv[2]).write_text(json.dumps({"summary": summary, "rows": rows}))
