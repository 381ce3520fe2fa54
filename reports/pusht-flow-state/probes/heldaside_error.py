"""Open-loop chunk error (px) of policies on held-aside expert demos (seeds 9500+) vs their training windows."""
import sys, json
from pathlib import Path
import numpy as np, torch
from hiwm.data import LeRobotDataset, EpisodeWindows
from hiwm.data.collect import collect
from hiwm.policies import load_policy
torch.set_num_threads(1)
vd = Path("/tmp/exp/valdemos")
if not (vd / "meta/info.json").exists():
    collect("pusht", "expert", 20, vd, 9500, progress=False)
val, train = LeRobotDataset(vd), LeRobotDataset("runs/pusht-s6/data/demos")
for path in sys.argv[1:]:
    p = load_policy(path)
    pc = p.config
    out = {}
    for name, ds in (("train", train), ("val", val)):
        w = EpisodeWindows([ds], obs_keys=pc.input_features, n_obs_steps=pc.n_obs_steps, horizon=pc.horizon)
        b = w.sample(512, torch.Generator().manual_seed(0))
        pred = p.predict_action_chunk({k: b[k] for k in pc.input_features}, torch.Generator().manual_seed(1)).numpy()
        err = np.linalg.norm(pred - np.asarray(b["action"])[:, :pc.n_action_steps], axis=-1)
        out[name] = (round(float(err[:, 0].mean()), 1), round(float(err.mean()), 1))
    print(path, out, flush=True)
