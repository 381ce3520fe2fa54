"""Open-loop world-model error on the base policy's own states:
python reports/probes/wm_on_policy.py RUN [RUN ...]

Records 12 policy-play episodes of RUN's base (data/policy_play.py, seeds 19 500-19 511, outside every run's
world-model data) in the simulator, half of them policy only and half with play stretches (where corrections
start and what pushing out of there does), and prints each run's world-model error against horizon next to
"nothing moves" (evaluation/wm_accuracy.py). Runs share the first run's base, so their models meet the same
episodes.
"""
import json
import sys
from pathlib import Path

from hiwm.data.collect import record_episode
from hiwm.data.policy_play import PolicyPlayActor
from hiwm.evaluation.wm_accuracy import open_loop_errors
from hiwm.policies import load_policy
from hiwm.tasks import make_expert, make_task
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.world_models import load_world_model

runs = [Path(a) for a in sys.argv[1:]]
task = json.loads((runs[0] / "config.json").read_text())["task"]
policy = load_policy(runs[0] / "policies" / "base")
env = make_task(task, images=False)
episodes = {"policy": [], "policy+play": []}
for i, seed in enumerate(range(19_500, 19_512)):
    kind = "policy" if i % 2 == 0 else "policy+play"
    actor = PolicyPlayActor(policy, env.spec_, make_expert(task, skill=1.0, seed=seed), seed, 1.0 if kind == "policy" else 0.6)
    frames, _ = record_episode(env, actor.act, seed, env.spec_.max_steps, images=False, stop_on_success=False)
    episodes[kind].append((env.scene_of({STATE_KEY: frames[STATE_KEY], ENV_KEY: frames[ENV_KEY]}), frames["action"]))
for run in runs:
    acc = open_loop_errors(load_world_model(run / "world_model"), episodes, horizons=(1, 10, 30), starts_per_episode=16)
    row = {"run": str(run)}
    for H in (1, 10, 30):
        for kind, parts in acc[H]["by_kind"].items():
            row[f"{kind}@{H}"] = {w: {k: round(v, 1) for k, v in parts[w].items() if k.endswith(("_median", "_mean"))}
                                  for w in ("model", "nothing_moves")}
    print(json.dumps(row), flush=True)
