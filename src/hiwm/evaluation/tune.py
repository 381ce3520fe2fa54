"""`hiwm tune`: one method's settings swept on the validation seeds, from a finished run's base, data and model.

    tune("runs/pusht-full-seed0", "wm_cl", {"wm_cl.rollouts": ["100", "300"]}, {}, Path("runs/tune"), 100)

Each combination is its own folder under ``out``, linking the run's data, base policy and world model, so only the
method's own stages run there: its new data (a correction campaign or WM-CL's rollouts; the run's own, linked, when
no setting given changes it), the fine-tune, and the evaluation on the validation seeds (9 000+; the held-out seeds are
never tuned on). The base is scored on the same seeds for reference.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import typing
from pathlib import Path

import numpy as np

from hiwm.errors import HiwmError
from hiwm.evaluation.metrics import wilson_interval
from hiwm.recipe import resolve
from hiwm.recipe.resolve import load_config_file
from hiwm.stages import VALIDATION_SEED

log = logging.getLogger(__name__)

TUNABLE = ("operator", "finetune", "wm_cl")  # what a method's own stages read; the rest made the shared ones
SHARED = ("data", "policies/base", "world_model")
# method -> (its new data's folder, the marker of a finished one, the settings that change it): where none of them
# is given, every setting fine-tunes the run's own campaign or rollouts instead of making them again
NEW_DATA = {"hiwm": ("hiwm", "cost.json", ("operator.",)), "real_hg_dagger": ("hg_dagger", "cost.json", ("operator.",)),
            "wm_cl": ("wm_cl", "done.json", ("wm_cl.rollouts",))}


def split_axes(tree: dict, given: dict[str, list[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Options -> (axes: settings given several values to sweep, fixed: the rest); a list setting takes all its
    values as one. Only the method's own settings may be given."""
    from hiwm.recipe.resolve import setting_hint

    axes, fixed = {}, {}
    for path, values in given.items():
        if path.split(".")[0] not in TUNABLE:
            raise HiwmError(f"hiwm tune: --{path} would change what the run's shared stages made; tune "
                            f"{', '.join(s + '.*' for s in TUNABLE)} settings")
        is_list = typing.get_origin(setting_hint(tree, path)) in (list, tuple)
        (axes if len(values) > 1 and not is_list else fixed)[path] = values
    return axes, fixed


def _link(run_dir: Path, folder: Path, parts: tuple[str, ...]) -> None:
    for part in parts:
        src, dst = run_dir.resolve() / part, folder / part
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(src, dst, target_is_directory=True)


def tune(run_dir: str | Path, method: str, axes: dict[str, list[str]], fixed: dict[str, list[str]], out: Path,
         episodes: int = 100, progress: bool = True) -> dict:
    """Every combination of ``axes`` (with ``fixed``) for ``method``, and the base, each scored on ``episodes``
    validation episodes in the simulator and the run's world model -> the table (also written to out/tune.json)."""
    from hiwm.pipeline import Pipeline

    run_dir, out = Path(run_dir), Path(out)
    for part in ("policies/base/model.safetensors", "world_model/model.safetensors"):
        if not (run_dir / part).exists():
            raise HiwmError(f"hiwm tune: {run_dir} has no {part}; tune from a run whose base and world model exist")
    run_cfg = load_config_file(run_dir / "config.json")
    combos = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    data_dir, marker, changes = NEW_DATA[method]
    reuse = (run_dir / data_dir / marker).exists() and not any(k.startswith(changes) for k in (*axes, *fixed))
    parts = SHARED + ((data_dir,) if reuse else ())
    # each combination is named after its settings; one without axes after the fixed ones ("as run" if none)
    named = [c or {k: " ".join(v) for k, v in fixed.items()} for c in combos]
    # (the policy scored, its settings, its label, its folder): the base for reference, then every combination
    plan = [("base", {}, "base", "base")] + [(method, c, ", ".join(f"{k}={v}" for k, v in n.items()) or "as run",
                                              "_".join(f"{k}={v}" for k, v in n.items()) or "as-run")
                                             for c, n in zip(combos, named)]
    rows = []
    for name, combo, label, folder_name in plan:
        overrides = {**fixed, **{k: [v] for k, v in combo.items()}, "evaluation.first_seed": [str(VALIDATION_SEED)],
                     "evaluation.episodes": [str(episodes)]}
        folder = out / folder_name
        _link(run_dir, folder, parts if name != "base" else SHARED)
        pipe = Pipeline(resolve(config=run_cfg, overrides=overrides), folder, progress=progress)
        demos, base, wm = pipe.shared()
        ev = pipe.evaluate(name, pipe.method(name, demos, base, wm), wm)
        sim, wms = np.asarray(ev["sim"]["success"]), np.asarray(ev["wm"]["success"])
        rows.append({"label": label, "settings": combo, "sim_success": float(sim.mean()),
                     "sim_ci95": list(wilson_interval(int(sim.sum()), len(sim))), "wm_success": float(wms.mean())})
        log.info("tune %s: %s -> %.0f%% (simulator, validation)", method, label, 100 * sim.mean())
        result = {"method": method, "run": str(run_dir), "episodes": episodes, "fixed": fixed, "axes": axes,
                  "eval_seeds": [VALIDATION_SEED, VALIDATION_SEED + episodes], "rows": rows,
                  "reused": data_dir if reuse else None}
        (out / "tune.json").write_text(json.dumps(result, indent=2))  # partial results survive a kill
    tuned = rows[1:]
    result["best"] = max(tuned, key=lambda r: r["sim_success"])["label"] if tuned else None
    (out / "tune.json").write_text(json.dumps(result, indent=2))
    return result


def write_tune_report(result: dict, out_dir: Path, command: str, machine: str, wall_s: float) -> Path:
    """tune.json -> README.md (the table) and tune.png (each setting's validation success with its interval)."""
    from hiwm.evaluation.report import LABELS, plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(result, indent=2))
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(rows) + 1.5), 3.6), dpi=120)
    xs = range(len(rows))
    sim = [100 * r["sim_success"] for r in rows]
    err = [[s - 100 * r["sim_ci95"][0] for s, r in zip(sim, rows)], [100 * r["sim_ci95"][1] - s for s, r in zip(sim, rows)]]
    ax.bar(xs, sim, 0.6, yerr=err, capsize=3, color=["#9e9e9e"] + ["#3b6fb6"] * (len(rows) - 1))
    ax.scatter(xs, [100 * r["wm_success"] for r in rows], color="#e3a33b", zorder=3, label="world model")
    ax.set_xticks(list(xs), [r["label"].replace(", ", "\n") for r in rows], fontsize=7)
    ax.set_ylabel("validation success % (simulator)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out_dir / "tune.png")
    plt.close(fig)
    table = "\n".join(f"| {r['label']} | {100 * r['sim_success']:.0f}% | [{100 * r['sim_ci95'][0]:.0f}, "
                      f"{100 * r['sim_ci95'][1]:.0f}] | {100 * r['wm_success']:.0f}% |" for r in rows)
    fixed = ", ".join(f"{k} {' '.join(v)}" for k, v in result["fixed"].items()) or "none beyond the run's config"
    reused = (f" Every setting fine-tunes on the run's own `{result['reused']}/` (reused: no setting given changes "
              "it), so the rows differ by the fine-tune alone." if result.get("reused") else "")
    text = f"""# Tuning {LABELS.get(result['method'], result['method'])} on the validation seeds

Command: `{command}`
Machine: {machine}. Wall time: {wall_s / 60:.1f} min. From the run `{result['run']}` (its base, data and world
model); {result['episodes']} validation episodes each (seeds {result['eval_seeds'][0]}-{result['eval_seeds'][1] - 1}).
Fixed: {fixed}.{reused}

| setting | simulator success | 95% CI | world-model success |
| --- | --- | --- | --- |
{table}

Best on validation: {result['best']}.

![tune](tune.png)
"""
    path = out_dir / "README.md"
    path.write_text(text)
    return path
