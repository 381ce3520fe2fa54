"""The grid's report: the summary (evaluation/grid.py) -> README.md, results.json, success.png, sim_vs_wm.png."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hiwm.evaluation.report import LABELS, plt

TASK_COLORS = {"pusht": "#3b6fb6", "rope-route": "#c0504d", "towel-fold": "#4f9a55"}
METHOD_COLORS = {"base": "#9e9e9e", "wm_cl": "#9ec3e6", "hiwm": "#3b6fb6", "real_hg_dagger": "#e3a33b"}
# The bar for the table (#9 in the brief): averages over cells, per cell, and world-model evaluation.
TARGETS = {"hiwm_minus_base": 0.30, "hiwm_minus_wm_cl": 0.15, "gap_closed": 0.60, "share_of_hg_dagger_gain": 0.90}


def _pct(x: float) -> str:
    return "-" if x is None or np.isnan(x) else f"{100 * x:.0f}"


def success_table(summary: dict) -> str:
    """The paper's Table 2 shape: a row per (task, backbone), simulator success per method with its draws."""
    methods = [m for m in ("base", "wm_cl", "hiwm", "real_hg_dagger")
               if any(m in c["methods"] for c in summary["cells"].values())]
    head = " | ".join(f"{LABELS[m]}: sim % (draws) [95% CI] / WM %" for m in methods)
    rows = [f"| task / backbone | {head} | Hi-WM - Base | Hi-WM - WM-CL | gap closed (paper) |",
            "| --- |" + " --- |" * (len(methods) + 3)]
    for name, c in summary["cells"].items():
        cols = []
        for m in methods:
            v = c["methods"].get(m)
            cols.append("-" if v is None else f"{_pct(v['sim_success'])} ({', '.join(_pct(s) for s in v['sim'])}) "
                        f"[{_pct(v['sim_ci95'][0])}, {_pct(v['sim_ci95'][1])}] / {_pct(v['wm_success'])}")
        paper = c.get("paper", {}).get("gap_closed")
        rows.append(f"| {name} | {' | '.join(cols)} | {_pct(c.get('hiwm_minus_base', np.nan))} | "
                    f"{_pct(c.get('hiwm_minus_wm_cl', np.nan))} | {_pct(c.get('gap_closed', np.nan))}% "
                    f"({_pct(paper) + '%' if paper is not None else '-'}) |")
    return "\n".join(rows)


def cost_table(summary: dict) -> str:
    rows = ["| task / backbone | Hi-WM operator steps | Hi-WM robot steps / resets | Real HG-DAgger operator steps | "
            "Real HG-DAgger robot steps / resets | Hi-WM's share of HG-DAgger's gain | wall time (min, all draws) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, c in summary["cells"].items():
        h, g = c["cost"].get("hiwm", {}), c["cost"].get("real_hg_dagger", {})
        fmt = lambda d, k: f"{d[k]:.0f}" if k in d else "-"  # noqa: E731
        rows.append(f"| {name} | {fmt(h, 'operator_steps')} | {fmt(h, 'robot_steps')} / {fmt(h, 'resets')} | "
                    f"{fmt(g, 'operator_steps')} | {fmt(g, 'robot_steps')} / {fmt(g, 'resets')} | "
                    f"{_pct(c.get('share_of_hg_dagger_gain', np.nan))}% | {c['wall_s'] / 60:.0f} |")
    return "\n".join(rows)


def checks(summary: dict) -> list[tuple[str, bool]]:
    """Each bar of the table and of world-model evaluation, with whether this grid meets it."""
    a, ev, cells = summary["averages"], summary["evaluation"], summary["cells"].values()
    out = [(f"average Hi-WM - Base {_pct(a['hiwm_minus_base'])} points >= 30", a["hiwm_minus_base"] >= 0.30),
           (f"average Hi-WM - WM-CL {_pct(a['hiwm_minus_wm_cl'])} points >= 15", a["hiwm_minus_wm_cl"] >= 0.15),
           (f"average gap closed {_pct(a['gap_closed'])}% >= 60%", a["gap_closed"] >= 0.60),
           ("every cell Hi-WM >= Base + 15", all(c.get("hiwm_minus_base", -1) >= 0.15 for c in cells)),
           ("every cell at least two draws", all(len(c["seeds"]) >= 2 for c in cells)),
           (f"world-model evaluation over {ev['n']} >= 30 points", ev["n"] >= 30),
           (f"Pearson r {ev['pearson_r']:.2f} >= 0.90, its 95% interval's lower end {ev['pearson_ci95'][0]:.2f} >= 0.80",
            ev["pearson_r"] >= 0.90 and ev["pearson_ci95"][0] >= 0.80),
           ("no task's world model more than 15 points from the simulator on any policy",
            all(t["max_gap"] <= 0.15 for t in ev["per_task"].values()))]
    if not np.isnan(a["share_of_hg_dagger_gain"]):
        out.append((f"Hi-WM reaches {_pct(a['share_of_hg_dagger_gain'])}% >= 90% of Real HG-DAgger's gain",
                    a["share_of_hg_dagger_gain"] >= 0.90))
    for c in cells:
        if "base" in c["methods"]:
            lo, hi = (0.20, 0.80) if c["backbone"] == "flow" else (0.25, 0.65)
            b = c["methods"]["base"]["sim_success"]
            out.append((f"{c['task']}/{c['backbone']} Base {_pct(b)}% in [{_pct(lo)}, {_pct(hi)}]", lo <= b <= hi))
    return out


def success_chart(summary: dict, path: Path) -> None:
    """Grouped bars per cell: each method's mean simulator success, with its draws as dots."""
    cells = list(summary["cells"].items())
    methods = [m for m in METHOD_COLORS if any(m in c["methods"] for _, c in cells)]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(cells) + 1.5), 3.8), dpi=120)
    w = 0.8 / max(1, len(methods))
    for j, m in enumerate(methods):
        xs = [i - 0.4 + w * (j + 0.5) for i in range(len(cells))]
        vals = [100 * c["methods"][m]["sim_success"] if m in c["methods"] else 0 for _, c in cells]
        ax.bar(xs, vals, w, color=METHOD_COLORS[m], label=LABELS[m])
        for x, (_, c) in zip(xs, cells):
            if m in c["methods"]:
                ax.scatter([x] * len(c["methods"][m]["sim"]), [100 * s for s in c["methods"][m]["sim"]], s=9,
                           color="black", zorder=3)
    ax.set_xticks(range(len(cells)), [n for n, _ in cells], fontsize=8)
    ax.set_ylabel("simulator success % (dots: draws)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, ncol=len(methods), loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluation_chart(summary: dict, path: Path) -> None:
    ev = summary["evaluation"]
    fig, ax = plt.subplots(figsize=(4.4, 4.2), dpi=120)
    ax.plot([0, 100], [0, 100], color="#bbbbbb", lw=1, zorder=0)
    for task, color in TASK_COLORS.items():
        pts = [p for p in ev["points"] if p["task"] == task]
        if pts:
            ax.scatter([100 * p["sim"] for p in pts], [100 * p["wm"] for p in pts], s=14, color=color, label=task)
    ax.set_xlabel("simulator success %")
    ax.set_ylabel("world-model success %")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    lo, hi = ev["pearson_ci95"]
    ax.set_title(f"{ev['n']} points: r = {ev['pearson_r']:.2f} [{lo:.2f}, {hi:.2f}], MMRV {ev['mmrv']:.3f}", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_grid_report(summary: dict, out_dir: Path, command: str, machine: str, missing: list[str]) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(summary, indent=2))
    success_chart(summary, out_dir / "success.png")
    evaluation_chart(summary, out_dir / "sim_vs_wm.png")
    ev = summary["evaluation"]
    per_task = "\n".join(f"| {t} | {v['points']} | {_pct(v['mean_gap'])} | {_pct(v['max_gap'])} | {v['mmrv']:.3f} |"
                         for t, v in ev["per_task"].items())
    lines = "\n".join(f"- {'met' if ok else '**not met**'}: {text}" for text, ok in checks(summary))
    waiting = f"\n\nCells not finished yet: {', '.join(missing)}." if missing else ""
    text = f"""# The experiment grid: tasks x backbones x methods

Command: `{command}`
Machine: {machine}. Wall time: {summary['wall_s'] / 60:.1f} min over {summary['draws']} whole-pipeline runs (each
cell's stages summed; any cell reruns alone with `--cell TASK/BACKBONE/SEED`).{waiting}

## Success (held-out simulator episodes; each method's mean over the draws, the draws in brackets)

{success_table(summary)}

The 95% interval pools every draw's episodes. WM: the same initial states in the cell's own world model.
Gap closed: (Hi-WM - Base) / (100 - Base) on the means.

![success](success.png)

## Cost

{cost_table(summary)}

## World-model evaluation against the simulator

{ev['n']} points from {ev['lineages']} independent base policies: Pearson r = {ev['pearson_r']:.3f} (bootstrap 95%
interval [{ev['pearson_ci95'][0]:.3f}, {ev['pearson_ci95'][1]:.3f}]), Spearman rho = {ev['spearman_rho']:.3f},
MMRV = {ev['mmrv']:.3f} (mean over tasks).

| task | points | mean gap (points) | largest gap | MMRV |
| --- | --- | --- | --- | --- |
{per_task}

![sim vs wm](sim_vs_wm.png)

## Against the bar

{lines}
"""
    path = out_dir / "README.md"
    path.write_text(text)
    return path
