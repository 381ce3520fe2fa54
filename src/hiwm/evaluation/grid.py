"""`hiwm experiment`: the paper's table as a grid of cells, one `hiwm run` per (task, backbone, run seed).

    cells = grid_cells(["pusht"], ["diffusion", "flow"], seeds=[0, 1])
    results = [run_cell(c, Path("runs/experiment"), quick=False, settings={}) for c in cells]
    summary = aggregate(results)  # per (task, backbone): each method's draws, their mean, a pooled Wilson interval

A cell's run folder is ``<out>/<task>-<backbone>-seed<seed>``; a finished cell (its results.json) is read, not
rerun, and a cell killed part-way resumes from its finished stages (pipeline.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hiwm.errors import HiwmError
from hiwm.evaluation.metrics import bootstrap_pearson, mmrv, pearson, spearman, wilson_interval

METHODS = ("base", "wm_cl", "hiwm", "real_hg_dagger")
# The Hi-WM paper's Table 2 (real-world success, %); hiwm's flow backbone stands in for pi0.
PAPER = {("pusht", "diffusion"): {"base": 52.9, "wm_cl": 64.7, "hiwm": 85.3},
         ("towel-fold", "diffusion"): {"base": 42.1, "wm_cl": 76.3, "hiwm": 92.1},
         ("rope-route", "diffusion"): {"base": 47.0, "wm_cl": 70.6, "hiwm": 94.1},
         ("pusht", "flow"): {"base": 76.5, "wm_cl": 79.4, "hiwm": 97.1},
         ("towel-fold", "flow"): {"base": 55.3, "wm_cl": 78.9, "hiwm": 97.4},
         ("rope-route", "flow"): {"base": 64.7, "wm_cl": 82.4, "hiwm": 100.0}}


@dataclass(frozen=True)
class Cell:
    task: str
    backbone: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.task}-{self.backbone}-seed{self.seed}"

    @classmethod
    def parse(cls, text: str) -> Cell:
        """``TASK/BACKBONE/SEED`` (as ``--cell`` takes it) -> a Cell; anything else is a one-line HiwmError."""
        parts = text.split("/")
        if len(parts) != 3 or not parts[2].isdigit():
            raise HiwmError(f"--cell takes TASK/BACKBONE/SEED (e.g. pusht/diffusion/0), got {text!r}")
        return cls(parts[0], parts[1], int(parts[2]))


def grid_cells(tasks: list[str], backbones: list[str], seeds: list[int]) -> list[Cell]:
    return [Cell(t, b, s) for t in tasks for b in backbones for s in seeds]


def cell_config(cell: Cell, quick: bool, settings: dict[str, list[str]], device: str | None = None):
    """The cell's RunConfig: its task's preset (``<task>-<backbone>`` where one ships), its backbone, its seed,
    then the settings every cell shares."""
    from hiwm.recipe import preset_names, resolve

    preset = f"{cell.task}-{cell.backbone}"
    return resolve(task=cell.task, quick=quick, preset=preset if preset in preset_names() else None,
                   overrides={**settings, "policy.type": [cell.backbone]}, seed=cell.seed, device=device)


def run_cell(cell: Cell, out: Path, quick: bool, settings: dict[str, list[str]], device: str | None = None,
             progress: bool = True, command: str = "hiwm experiment") -> dict:
    """The cell's results: read when its run folder has them, else run (resuming finished stages) and reported."""
    from hiwm.evaluation.report import write_report
    from hiwm.pipeline import Pipeline

    run_dir = Path(out) / cell.name
    pipe = Pipeline(cell_config(cell, quick, settings, device), run_dir, progress=progress)  # refuses other settings
    if (run_dir / "results.json").exists():
        return json.loads((run_dir / "results.json").read_text())
    results = pipe.run()
    write_report(results, run_dir / "report", f"{command} --cell {cell.task}/{cell.backbone}/{cell.seed}")
    return results


def finished(out: Path) -> list[dict]:
    """Every finished cell's results under ``out``, in name order."""
    return [json.loads(p.read_text()) for p in sorted(Path(out).glob("*/results.json"))]


# ------------------------------------------------------------------ summary ----
def _mean(xs) -> float:
    return float(np.mean(xs)) if len(xs) else float("nan")


def aggregate(results: list[dict], seed: int = 0) -> dict:
    """Finished cells' results -> the grid's summary: per (task, backbone) each method's per-draw and mean success
    (simulator and world model), a Wilson interval over the pooled episodes, the costs, gains and gap closed; the
    averages over cells; and world-model evaluation against the simulator over every (cell, draw, policy) point:
    the methods and the run's probes (the base's checkpoints, policies nobody trained for the task)."""
    by_cell: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        by_cell.setdefault((r["task"], r["backbone"]), []).append(r)
    cells = {}
    for (task, backbone), draws in sorted(by_cell.items()):
        draws = sorted(draws, key=lambda r: r["seed"])
        methods = {}
        for m in METHODS:
            got = [r["methods"][m] for r in draws if m in r["methods"]]
            if not got:
                continue
            wins = sum(round(g["sim_success"] * g["episodes"]) for g in got)
            n = sum(g["episodes"] for g in got)
            methods[m] = {"sim": [g["sim_success"] for g in got], "wm": [g["wm_success"] for g in got],
                          "sim_success": _mean([g["sim_success"] for g in got]),
                          "wm_success": _mean([g["wm_success"] for g in got]),
                          "sim_ci95": list(wilson_interval(wins, n)), "episodes": n}
        cell = {"task": task, "backbone": backbone, "seeds": [r["seed"] for r in draws], "methods": methods,
                "wall_s": sum(r["timing_s"]["total"] for r in draws),
                "cost": {k: {f: _mean([r["cost"][k][f] for r in draws if k in r["cost"]])
                             for f in ("operator_steps", "robot_steps", "resets")}
                         for k in ("hiwm", "real_hg_dagger") if any(k in r["cost"] for r in draws)}}
        if {"base", "hiwm"} <= set(methods):
            base, hiwm = methods["base"]["sim_success"], methods["hiwm"]["sim_success"]
            cell["hiwm_minus_base"] = hiwm - base
            cell["gap_closed"] = (hiwm - base) / (1 - base) if base < 1 else float("nan")
            if "wm_cl" in methods:
                cell["hiwm_minus_wm_cl"] = hiwm - methods["wm_cl"]["sim_success"]
            if "real_hg_dagger" in methods and methods["real_hg_dagger"]["sim_success"] > base:
                cell["share_of_hg_dagger_gain"] = (hiwm - base) / (methods["real_hg_dagger"]["sim_success"] - base)
        if (task, backbone) in PAPER:
            p = PAPER[(task, backbone)]
            cell["paper"] = p | {"gap_closed": (p["hiwm"] - p["base"]) / (100 - p["base"])}
        cells[f"{task}/{backbone}"] = cell
    averages = {k: _mean([c[k] for c in cells.values() if k in c])
                for k in ("hiwm_minus_base", "hiwm_minus_wm_cl", "gap_closed", "share_of_hg_dagger_gain")}
    return {"cells": cells, "averages": averages, "draws": len(results),
            "wall_s": sum(c["wall_s"] for c in cells.values()), "evaluation": wm_evaluation(results, seed)}


def wm_evaluation(results: list[dict], seed: int = 0) -> dict:
    """World-model success against simulator success over every (cell, draw, policy) point: Pearson r with a
    bootstrap 95% interval, Spearman's rho, MMRV within each task, each task's mean and largest gap (points)."""
    points = [{"task": r["task"], "backbone": r["backbone"], "seed": r["seed"], "method": m,
               "sim": v["sim_success"], "wm": v["wm_success"], "lineage": _lineage(r, v.get("lineage", "base"))}
              for r in results for m, v in (*r["methods"].items(), *r.get("probes", {}).items()) if "wm_success" in v]
    sim, wm = np.array([p["sim"] for p in points]), np.array([p["wm"] for p in points])
    tasks = sorted({p["task"] for p in points})
    per_task = {}
    for t in tasks:
        mask = np.array([p["task"] == t for p in points])
        gap = np.abs(wm[mask] - sim[mask])
        per_task[t] = {"points": int(mask.sum()), "mean_gap": float(gap.mean()), "max_gap": float(gap.max()),
                       "mmrv": mmrv(sim[mask], wm[mask])}
    lo, hi = bootstrap_pearson(sim, wm, seed=seed)
    return {"points": points, "n": len(points), "pearson_r": pearson(sim, wm), "pearson_ci95": [lo, hi],
            "spearman_rho": spearman(sim, wm), "mmrv": _mean([v["mmrv"] for v in per_task.values()]),
            "lineages": len({p["lineage"] for p in points}), "per_task": per_task}


def _lineage(r: dict, kind: str) -> str:
    """Policies of one lineage share their origin: every variant of a cell's draw descends from its base; the
    scripted expert's variants are one lineage per task, whichever cell evaluated them."""
    return f"{r['task']}/expert" if kind == "expert" else f"{r['task']}/{r['backbone']}/{r['seed']}"
