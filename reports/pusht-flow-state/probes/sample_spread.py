import sys
import numpy as np, torch
from hiwm.data import LeRobotDataset, EpisodeWindows
from hiwm.policies import load_policy
torch.set_num_threads(2)
ds = LeRobotDataset("/tmp/exp/valdemos")
for path in sys.argv[1:]:
    p = load_policy(path); pc = p.config
    w = EpisodeWindows([ds], obs_keys=pc.input_features, n_obs_steps=pc.n_obs_steps, horizon=pc.horizon)
    b = w.sample(64, torch.Generator().manual_seed(0))
    obs = {k: np.repeat(np.asarray(b[k]), 16, axis=0) for k in pc.input_features}
    pred = p.predict_action_chunk(obs, torch.Generator().manual_seed(1)).numpy().reshape(64, 16, pc.n_action_steps, 2)
    spread = np.linalg.norm(pred - pred.mean(1, keepdims=True), axis=-1).mean()
    # chunk length: how far the 8 actions travel
    travel = np.linalg.norm(np.diff(pred, axis=2), axis=-1).sum(-1).mean()
    data_travel = np.linalg.norm(np.diff(np.asarray(b["action"])[:, :pc.n_action_steps], axis=1), axis=-1).sum(-1).mean()
    print(path, "sample spread px", round(float(spread), 1), "travel px", round(float(travel), 1), "data travel", round(float(data_travel), 1))
