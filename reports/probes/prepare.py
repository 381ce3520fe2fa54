"""Rebuild a run folder's data, base policy and world model only (no evaluation, no post-training):
python reports/probes/prepare.py SEED RUN_DIR ['PIPELINE_JSON']

The stages `hiwm demo --seed SEED --out RUN_DIR` would run first, with the same settings, so the validation
probes (rounds_val.py) can start from them on a machine whose runs/ folder is empty.
"""
import json
import sys

from hiwm.pipeline import Pipeline, PipelineConfig

seed, out = int(sys.argv[1]), sys.argv[2]
extra = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
pl = Pipeline(PipelineConfig(seed=seed, **extra), out, progress=False)
demos, play = pl.collect_data()
base = pl.base_policy(demos)
pl.world_model(demos, play, pl.policy_play(base))
print("ready", out, flush=True)
