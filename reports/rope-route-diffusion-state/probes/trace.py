"""How a rope-route policy fails, step by step: for each seed, the gripper, the rope's head and the policy's
target xy in clip 1's frame (s along the route's normal, negative before the gate; t across it, the slot being
|t| < 17 mm), the grasp, and the clips passed. Usage: python trace.py POLICY_DIR SEED[,SEED...] [STEPS]"""
import sys

from hiwm.evaluation.runner import rollout
from hiwm.policies import load_policy
from hiwm.tasks.rope import HEAD, gates_of, nodes_of, route_status
from hiwm.tasks.rope_expert import gate_frame
from hiwm.tasks.vector import SimVecEnv

policy = load_policy(sys.argv[1])
seeds = [int(s) for s in sys.argv[2].split(",")]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 80
res = rollout(SimVecEnv("rope-route"), policy, seeds, steps, seed=5, record=True, progress=False)
for seed, ok, ep in zip(seeds, res.success, res.episodes):
    print("seed", seed, "success", bool(ok))
    for i, act in enumerate(ep["action"]):
        if i >= 40 and i % 10:
            continue
        scene = ep["scene"][i]
        centre, across, normal = gate_frame(gates_of(scene), 0)

        def frame(xy):
            return f"({(xy - centre) @ normal:+.3f},{(xy - centre) @ across:+.3f})"

        head = nodes_of(scene)[HEAD]
        print(f"t{i:3d} clips {route_status(scene)[0]} grip {frame(scene[:2])} z {scene[2]:.3f} closed {scene[3]:.0f} "
              f"head {frame(head[:2])} target {frame(act[:2])} z {act[2]:.3f} grasp {act[3]:.2f}")
