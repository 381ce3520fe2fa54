"""The rope-route demonstration sweep with the policy in the route's frame (--policy.frame rope-route), as
`hiwm sweep-demos` (which has no policy options) would run it. Usage: python frame_sweep.py OUT COUNT[,COUNT...]"""
import json
import sys

from hiwm.evaluation.sweep import demo_sweep
from hiwm.pipeline import PipelineConfig

counts = [int(c) for c in sys.argv[2].split(",")]
cfg = PipelineConfig(task="rope-route", seed=7, policy={"type": "diffusion", "down_dims": [32, 64, 128],
                                                        "prediction_type": "sample", "frame": "rope-route"})
print(json.dumps(demo_sweep(cfg, counts, sys.argv[1], progress=False)["counts"]))
