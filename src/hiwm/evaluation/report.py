"""Reports: results.json -> markdown, a bar chart of success, and the simulator-vs-model scatter."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hiwm.evaluation.metrics import pearson, spearman  # noqa: E402

LABELS = {"base": "Base", "wm_cl": "WM-CL", "hiwm": "Hi-WM", "real_hg_dagger": "Real HG-DAgger"}


def table(results: dict) -> str:
    rows = ["| method | simulator success | 95% CI | terminal success (sim) | world-model success |", "| --- | --- | --- | --- | --- |"]
    for name, m in results["methods"].items():
        lo, hi = m["sim_ci95"]
        wm = f"{100 * m['wm_success']:.0f}%" if "wm_success" in m else "-"
        rows.append(f"| {LABELS.get(name, name)} | {100 * m['sim_success']:.0f}% | [{100 * lo:.0f}, {100 * hi:.0f}] | "
                    f"{100 * m.get('sim_terminal_success', float('nan')):.0f}% | {wm} |")
    return "\n".join(rows)


def accuracy_table(acc: dict, kind: str | None = None) -> str:
    """wm_accuracy.json (evaluation/wm_accuracy.py) -> markdown: per horizon, each measure's median (mean)
    for the model and for "nothing moves"; ``kind`` picks one kind of held-out episode."""
    rows = {}
    for h, v in acc.items():
        if "model" not in v:
            continue
        v = v if kind is None else v.get("by_kind", {}).get(kind)
        if v:
            rows[h] = v
    if not rows:
        return "(no held-out episode is longer than the shortest horizon)"
    first = next(iter(rows.values()))["model"]
    names = [k[: -len("_median")] for k in first if k.endswith("_median")]
    head = " | ".join(f"{n} (model) | {n} (nothing moves)" for n in names)
    lines = [f"| horizon | starts | {head} |", "| --- | --- |" + " --- |" * (2 * len(names))]
    for h, v in rows.items():
        cells = " | ".join(f"{v[w][n + '_median']:.1f} ({v[w].get(n + '_mean', float('nan')):.1f})"
                          for n in names for w in ("model", "nothing_moves"))
        lines.append(f"| {h} | {v['model']['n']} | {cells} |")
    return "\n".join(lines)


def bar_chart(results: dict, path: Path) -> None:
    names = list(results["methods"])
    sim = [results["methods"][n]["sim_success"] * 100 for n in names]
    err = [[s - results["methods"][n]["sim_ci95"][0] * 100 for n, s in zip(names, sim)],
           [results["methods"][n]["sim_ci95"][1] * 100 - s for n, s in zip(names, sim)]]
    wm = [results["methods"][n].get("wm_success", float("nan")) * 100 for n in names]
    x = range(len(names))
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    ax.bar([i - 0.2 for i in x], sim, 0.4, yerr=err, capsize=4, label="simulator (95% CI)", color="#3b6fb6")
    ax.bar([i + 0.2 for i in x], wm, 0.4, label="world model", color="#9ec3e6")
    ax.set_xticks(list(x), [LABELS.get(n, n) for n in names])
    ax.set_ylabel("success %")
    ax.set_ylim(0, 100)
    ax.set_title(f"{results['task']} / {results['backbone']}: {results['methods'][names[0]]['episodes']} episodes each")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def scatter(points: list[tuple[str, float, float]], path: Path) -> dict:
    """points: (label, sim success, wm success) -> figure, and Pearson r / Spearman rho."""
    sims, wms = [p[1] * 100 for p in points], [p[2] * 100 for p in points]
    r, rho = pearson(sims, wms), spearman(sims, wms)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=120)
    ax.plot([0, 100], [0, 100], color="#bbbbbb", lw=1, zorder=0)
    ax.scatter(sims, wms, color="#3b6fb6")
    for (label, _, _), s, w in zip(points, sims, wms):
        ax.annotate(label, (s, w), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("simulator success %")
    ax.set_ylabel("world-model success %")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_title(f"Pearson r = {r:.3f}, Spearman rho = {rho:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return {"pearson_r": r, "spearman_rho": rho, "points": len(points)}


def write_report(results: dict, out_dir: Path, command: str) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    bar_chart(results, out_dir / "success.png")
    probes = results.get("probes", {})
    corr = scatter([(LABELS.get(n, n), m["sim_success"], m["wm_success"]) for n, m in
                    (*results["methods"].items(), *probes.items()) if "wm_success" in m], out_dir / "sim_vs_wm.png")
    probes = ("\n\nOther policies, for judging the world model as an evaluator (base checkpoints part-way through "
              "its training; policies nobody trained for the task):\n\n| policy | simulator success | world-model "
              "success |\n| --- | --- | --- |\n" + "\n".join(f"| {n} | {100 * v['sim_success']:.0f}% | "
                                                         f"{100 * v['wm_success']:.0f}% |" for n, v in probes.items())
              if probes else "")
    acc = results.get("wm_accuracy", {})
    kinds = acc.get("episodes", {})
    lengths = ", ".join(f"{k}: {e['count']} episodes of {e['steps_min']}-{e['steps_max']} steps" for k, e in kinds.items())
    closed = acc.get("expert_in_model")
    closed = (f"\n\nThe scripted expert acting on the model's predictions alone, from {closed['episodes']} held-out initial "
              f"states: the task's success test passes on the predicted scene in {100 * closed['success']:.0f}% "
              f"(mean {closed['steps_mean']:.1f} steps)." if closed else "")
    by_kind = "".join(f"\n\n{k} episodes only:\n\n{accuracy_table(acc, k)}" for k in kinds if len(kinds) > 1)
    cost = results["cost"]["hiwm"]
    m = results["methods"]
    sweep = ""
    if (out_dir / "sweep.json").exists():  # written by `hiwm sweep-demos`, copied beside the report
        sw = json.loads((out_dir / "sweep.json").read_text())
        rows = "\n".join(f"| {n} | {r['frames']} | {100 * r['sim_success']:.0f}% | [{100 * r['sim_ci95'][0]:.0f}, "
                         f"{100 * r['sim_ci95'][1]:.0f}] |" for n, r in sw["counts"].items())
        sweep = (f"\n## Demonstration sweep (base policy, {sw['episodes']} simulator episodes each)\n\n"
                 f"| demos | frames | simulator success | 95% CI |\n| --- | --- | --- | --- |\n{rows}\n\n"
                 f"Chosen: {sw['chosen']} demos (target band {sw['band'][0]:.0%}-{sw['band'][1]:.0%}).\n")
    hg = ""
    if "real_hg_dagger" in results["cost"]:
        c = results["cost"]["real_hg_dagger"]
        hg = (f"\nReal HG-DAgger (the same operator acting in the simulator, correcting in place: r = 0, K = 1): "
              f"{c['operator_steps']} operator steps over {c['sessions']} episodes, {c['failure_states']} interventions, "
              f"{c['robot_steps']} robot steps, {c['resets']} resets.")
    rounds = results["protocol"].get("rounds", 1)
    rounds = (f"\nEach method gathered its data in {rounds} rounds, with its budget split evenly: round i + 1 watched the "
              f"base fine-tuned on rounds 1..i; each variant is the base fine-tuned "
              f"{results['protocol']['finetune_steps']} steps on demos + all its rounds' data." if rounds > 1 else "")
    wd = results["cost"].get("world_model_data")
    wm_data = (f"\nThe world model's own data (once, shared by WM-CL and Hi-WM): {wd['robot_steps']} simulator steps, "
               f"{wd['play_steps']} of play and {wd['policy_play_steps']} of policy play (the base in the simulator "
               f"with play stretches), no operator." if wd else "")
    gain = ""
    if {"base", "hiwm", "wm_cl"} <= set(m):
        gain = (f"Hi-WM vs Base: {100 * (m['hiwm']['sim_success'] - m['base']['sim_success']):+.0f} points; "
                f"Hi-WM vs WM-CL: {100 * (m['hiwm']['sim_success'] - m['wm_cl']['sim_success']):+.0f} points.")
    first, end = results["protocol"].get("eval_seeds", [100_000, 100_000 + m[next(iter(m))]["episodes"]])
    seeds = f"{first}-{end - 1}" + (", held out" if first == 100_000 else ", validation: not the held-out seeds")
    text = f"""# {results['task']} / {results['backbone']} / {results['world_model']} world model

Command: `{command}`
Machine: {results['machine']}. Wall time: {results['timing_s'].get('total', 0) / 60:.1f} min
(stages, s: {', '.join(f'{k} {v}' for k, v in results['timing_s'].items() if k not in ('total', 'this_invocation'))}).

## Success ({m[next(iter(m))]['episodes']} episodes per method, seeds {seeds})

{table(results)}

{gain}

![success](success.png)

World model vs simulator over these {corr['points']} points: Pearson r = {corr['pearson_r']:.3f},
Spearman rho = {corr['spearman_rho']:.3f} (few points: read it as a sanity check, not a figure of merit).{probes}

![sim vs wm](sim_vs_wm.png)

## Cost of the corrections

Hi-WM: {cost['operator_steps']} operator steps over {cost['sessions']} sessions, {cost['failure_states']} failure
states, {cost['branches']} branches, {cost['robot_steps']} robot steps, {cost['resets']} resets.
WM-CL: {results['cost']['wm_cl']['kept']} of {results['cost']['wm_cl']['rollouts']} world-model rollouts judged
successful and kept.{hg}{rounds}{wm_data}

## World-model open-loop accuracy (held-out simulator episodes)

{accuracy_table(acc)}{by_kind}{closed}

Each cell: median (mean) over the start frames; horizons no held-out episode is longer than are left out
({lengths or 'episode lengths not recorded'}). Protocol: {json.dumps(results['protocol'])}
{sweep}"""
    path = out_dir / "README.md"
    path.write_text(text)
    return path
