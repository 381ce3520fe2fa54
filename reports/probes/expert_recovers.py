"""Can the expert still win from where a policy's no-cover failures stand at step T0?
python reports/probes/expert_recovers.py RUN NAME T0

For each validation episode in RUN/eval/NAME.json whose coverage never left 0, the policy RUN/policies/NAME
acts for T0 steps in the simulator (sampling seed 5), then the full-skill expert takes over for the rest of
the 300 steps; prints each seed's outcome and the count the expert turns into successes.
"""
import json
import sys

import numpy as np
import torch

from hiwm.pipeline import VALIDATION_SEED
from hiwm.policies import load_policy
from hiwm.tasks import make_expert, make_task

run, name, t0 = sys.argv[1], sys.argv[2], int(sys.argv[3])
ev = json.load(open(f"{run}/eval/{name}.json"))["sim"]
seeds = [VALIDATION_SEED + i for i, m in enumerate(ev["max_progress"]) if m < 0.01]
policy = load_policy(f"{run}/policies/{name}")
won = []
for seed in seeds:
    task = make_task("pusht", images=False)
    obs, _ = task.reset(seed=seed)
    state, gen = policy.initial_state(1), torch.Generator().manual_seed(5)
    for _ in range(t0):
        action, state = policy.act(state, {k: torch.as_tensor(obs[k][None], dtype=torch.float32)
                                           for k in policy.config.input_features}, generator=gen)
        obs = task.step(action[0].numpy().astype(np.float64))[0]
    expert, ok = make_expert("pusht", 1.0, seed=seed), False
    for _ in range(300 - t0):
        obs, _, _, _, info = task.step(expert.act(obs))
        if info["is_success"]:
            ok = True
            break
    won.append(ok)
    print(seed, ok, flush=True)
print(f"the expert recovers {sum(won)} of {len(won)}")
