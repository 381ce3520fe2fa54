"""Where a rope-route base fails: validation seeds 9 000-9 019, per episode success, steps, best progress,
clips passed, share of steps with the grasp closed, mean gripper height. Usage: python failures.py POLICY_DIR"""
import sys
from hiwm.policies import load_policy
from hiwm.evaluation.runner import rollout
from hiwm.tasks.vector import SimVecEnv
from hiwm.tasks.rope import route_status
p = load_policy(sys.argv[1])
r = rollout(SimVecEnv("rope-route"), p, list(range(9000, 9020)), 300, seed=5, record=True, progress=False)
for i, ep in enumerate(r.episodes):
    sc = ep["scene"]; k = [route_status(s)[0] for s in sc[::10]]
    g = ep["obs_state"]
    print(i, bool(r.success[i]), int(r.steps[i]), "maxprog %.2f" % r.max_progress[i], "k", max(k),
          "grasp frac %.2f" % (g[:, 3] > 0.5).mean(), "z mean %.3f" % g[:, 2].mean())
