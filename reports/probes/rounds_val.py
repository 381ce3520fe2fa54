"""Validation probe for PipelineConfig.rounds (and any operator/pipeline change) on a finished run's data,
base and world model: python reports/probes/rounds_val.py RUN NAME ROUNDS [PIPELINE_JSON] [--wm-cl] [--base] [--control]
[--campaign-from=OTHER] [--in-sim]

Links RUN's data/, policies/base and world_model/ into runs/val/NAME, runs Hi-WM's rounds (and WM-CL's with
--wm-cl) and evaluates on the validation seeds 9 000-9 099 (never the held-out ones); prints one JSON line.
--campaign-from=OTHER reuses runs/val/OTHER's Hi-WM campaign (and WM-CL rollouts), so only the fine-tunes run:
for probing the fine-tuning recipe on the same data. --control also fine-tunes on the demonstrations alone
(the same steps): what more training without new data gives. --in-sim runs the same operator (same H, r, K,
triggers) with the simulator in the world model's place: what imagining the corrections costs.
"""
import json
import sys
import time
from pathlib import Path

from hiwm.data import LeRobotDataset
from hiwm.pipeline import VALIDATION_SEED, Pipeline, PipelineConfig
from hiwm.world_models import SimulatorConfig, SimulatorModel

src, name, rounds = Path(sys.argv[1]).resolve(), sys.argv[2], int(sys.argv[3])
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 and not sys.argv[4].startswith("--") else {}
src_cfg = json.loads((src / "config.json").read_text())
out = Path("runs/val") / name
(out / "policies").mkdir(parents=True, exist_ok=True)
for part in ("data", "policies/base", "world_model"):
    if not (out / part).exists():
        (out / part).symlink_to(src / part)
donor = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--campaign-from=")), None)
for part in ("hiwm", "wm_cl") if donor else ():
    if (Path("runs/val") / donor / part).exists() and not (out / part).exists():
        (out / part).symlink_to((Path("runs/val") / donor / part).resolve())
cfg = PipelineConfig(**{**src_cfg, "eval_seed": VALIDATION_SEED, "rounds": rounds, "hg_dagger": False, **extra})
pl = Pipeline(cfg, out, progress=False)
t = time.time()
demos, _ = pl.collect_data()
base, wm = pl.base_policy(demos), pl.world_model(demos, None)
row = {"run": src.name, "name": name, "rounds": rounds, **extra}
if "--wm-cl" in sys.argv:
    p, _ = pl.post_train("wm_cl", demos, base, lambda q, done: pl.wm_cl_data(q, wm, len(done)),
                         lambda roots: pl._kept_windows(roots, base))
    row["wm_cl"] = sum(pl.evaluate("wm_cl", p, wm)["sim"]["success"])
actor = SimulatorModel(SimulatorConfig(task=cfg.task)) if "--in-sim" in sys.argv else wm
p, costs = pl.post_train("hiwm", demos, base, pl._campaign_round("hiwm", actor),
                         lambda rs: pl.correction_windows(base, [pl._stage_dir("hiwm", i) / "corrections"
                                                                 for i in range(len(rs))]))
row.update(hiwm=sum(pl.evaluate("hiwm", p, wm)["sim"]["success"]),
           failure_states=[c["failure_states"] for c in costs], operator_steps=[c["operator_steps"] for c in costs],
           wall_s=round(time.time() - t))
if "--control" in sys.argv:
    row["control"] = sum(pl.evaluate("control", pl.finetune("control", demos, None), wm)["sim"]["success"])
if donor:
    row["campaign_from"] = donor
if "--in-sim" in sys.argv:
    row["in_sim"] = True
if "--base" in sys.argv:
    row["base"] = sum(pl.evaluate("base", base, wm)["sim"]["success"])
print(json.dumps(row), flush=True)
with open("reports/probes/validation.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
