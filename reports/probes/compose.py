"""python reports/probes/compose.py PARENT CHILD OPERATOR_JSON

A run folder sharing PARENT's data, base, world model and WM-CL: links to those stages, copies of their
evaluations, and PARENT's config with the operator overrides. `hiwm demo ... --out CHILD` with the same
overrides (e.g. --K 1) then runs only the Hi-WM stages; the settings guard accepts it as the configs match.
"""
import json
import shutil
import sys
from pathlib import Path

parent, child, overrides = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), json.loads(sys.argv[3])
(child / "eval").mkdir(parents=True, exist_ok=True)
(child / "policies").mkdir(exist_ok=True)
for part in ("data", "world_model", "wm_cl", "policies/base", "policies/wm_cl"):
    (child / part).symlink_to(parent / part)
for f in ("wm_accuracy.json", "eval/base.json", "eval/wm_cl.json"):
    shutil.copy(parent / f, child / f)
cfg = json.loads((parent / "config.json").read_text())
cfg["operator"] = {**cfg.get("operator", {}), **overrides}
(child / "config.json").write_text(json.dumps(cfg, indent=2))
timing = json.loads((parent / "timing.json").read_text())
timing.pop("hiwm", None)  # this folder's own campaign is timed anew
(child / "timing.json").write_text(json.dumps(timing, indent=2))
print("composed", child, "operator", cfg["operator"])
