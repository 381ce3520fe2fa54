"""Do the fine-tuned policies reproduce the actions they were fine-tuned on? python reports/probes/fit_check.py VAL_RUN [POLICY ...]

For each policy in runs/val/VAL_RUN/policies (default: base, hiwm, control where present), the median
distance (px) between its predicted first n_action_steps actions and the recorded ones, on windows of the
demonstrations and of the Hi-WM corrections (the operator's own steps only; ``far``: windows whose pusher
is over 70 px from the block). Small on corrections after fine-tuning but large for the base: the policy
learnt them, and a policy that still fails in such states fails to generalise from them; large after
fine-tuning too: the fine-tune does not fit them.
"""
import sys
from pathlib import Path

import numpy as np
import torch

from hiwm.data import LeRobotDataset
from hiwm.data.windows import EpisodeWindows
from hiwm.policies import load_policy
from hiwm.session.export import correction_episodes
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.tasks.pusht import pose_from_keypoints

run = Path("runs/val") / sys.argv[1]
names = sys.argv[2:] or [n for n in ("base", "hiwm", "control") if (run / "policies" / n / "model.safetensors").exists()]
demos = LeRobotDataset(run / "data" / "demos")
fixes = [e for e in correction_episodes(run / "hiwm" / "corrections", outcomes=False)]
rng = np.random.default_rng(0)


def error(policy, windows: EpisodeWindows, starts: np.ndarray) -> float:
    n = policy.config.n_action_steps
    batch = windows.windows(starts)
    pred = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(0)).numpy()
    act, pad = batch["action"][:, :n].numpy(), batch["action_is_pad"][:, :n].numpy()
    d = np.linalg.norm(pred - act, axis=-1)
    return float(np.median(d[~pad]))


for name in names:
    policy = load_policy(run / "policies" / name)
    cfg = policy.config
    dw = EpisodeWindows([demos], cfg.input_features, cfg.n_obs_steps, cfg.horizon)
    cw = EpisodeWindows(fixes, cfg.input_features, cfg.n_obs_steps, cfg.horizon, mask_key="train_mask")
    d_starts = rng.choice(dw._starts, 512, replace=False)
    c_starts = cw._starts
    gap = np.linalg.norm(cw._obs[STATE_KEY][c_starts] - pose_from_keypoints(cw._obs[ENV_KEY][c_starts])[:, :2], axis=-1)
    far = c_starts[gap > 70]
    print(f"{name:10s} demos {error(policy, dw, d_starts):6.1f} px   corrections {error(policy, cw, c_starts):6.1f} px "
          f"({len(c_starts)} windows)   far corrections {error(policy, cw, far):6.1f} px ({len(far)})", flush=True)
