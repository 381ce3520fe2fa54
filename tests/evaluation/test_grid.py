"""The experiment grid (`hiwm experiment`): statistics, aggregation over draws, and a whole quick grid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hiwm.cli import main
from hiwm.errors import HiwmError
from hiwm.evaluation.grid import Cell, aggregate, cell_config
from hiwm.evaluation.grid_report import checks
from hiwm.evaluation.metrics import bootstrap_pearson, mmrv


def test_mmrv_is_zero_for_a_perfect_ranking_and_counts_the_largest_violation():
    real = [0.2, 0.5, 0.9]
    assert mmrv(real, [0.1, 0.4, 0.95]) == 0.0
    # the evaluator swaps the first two: each of them is violated by 0.3, the third by nothing
    assert mmrv(real, [0.5, 0.4, 0.95]) == pytest.approx((0.3 + 0.3 + 0.0) / 3)
    assert mmrv(real, [0.9, 0.5, 0.2]) == pytest.approx((0.7 + 0.4 + 0.7) / 3), "reversed: every pair is violated"


def test_bootstrap_interval_holds_r_and_narrows_with_more_points():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 40)
    y = x + rng.normal(0, 0.1, 40)
    lo, hi = bootstrap_pearson(x, y, seed=1)
    r = np.corrcoef(x, y)[0, 1]
    assert lo < r < hi and hi - lo < 0.2
    lo4, hi4 = bootstrap_pearson(x[:6], y[:6], seed=1)
    assert hi4 - lo4 > hi - lo
    assert np.isnan(bootstrap_pearson([0.1, 0.2], [0.3, 0.4])[0])


def _results(task, backbone, seed, sim, wm, episodes=100):
    methods = {m: {"sim_success": s, "wm_success": w, "episodes": episodes} for m, s, w in zip(
        ("base", "wm_cl", "hiwm"), sim, wm)}
    cost = {"hiwm": {"operator_steps": 1500, "robot_steps": 0, "resets": 0}}
    return {"task": task, "backbone": backbone, "seed": seed, "methods": methods, "cost": cost,
            "timing_s": {"total": 600.0}}


def test_aggregate_means_draws_pools_episodes_and_scores_the_world_model():
    runs = [_results("pusht", "diffusion", 0, (0.40, 0.50, 0.80), (0.42, 0.50, 0.78)),
            _results("pusht", "diffusion", 1, (0.50, 0.60, 0.90), (0.45, 0.62, 0.88)),
            _results("towel-fold", "diffusion", 0, (0.30, 0.40, 0.70), (0.05, 0.40, 0.70))]
    s = aggregate(runs)
    cell = s["cells"]["pusht/diffusion"]
    assert cell["seeds"] == [0, 1] and cell["methods"]["base"]["sim"] == [0.40, 0.50]
    assert cell["methods"]["hiwm"]["sim_success"] == pytest.approx(0.85)
    assert cell["methods"]["hiwm"]["episodes"] == 200
    lo, hi = cell["methods"]["hiwm"]["sim_ci95"]
    assert lo < 0.85 < hi and hi - lo < 0.11, "pooled over both draws' 200 episodes"
    assert cell["hiwm_minus_base"] == pytest.approx(0.40) and cell["gap_closed"] == pytest.approx(0.40 / 0.55)
    assert cell["paper"]["gap_closed"] == pytest.approx((85.3 - 52.9) / (100 - 52.9))
    assert s["wall_s"] == 1800 and s["draws"] == 3
    ev = s["evaluation"]
    assert ev["n"] == 9 and ev["lineages"] == 3
    assert ev["per_task"]["towel-fold"]["max_gap"] == pytest.approx(0.25)
    bar = dict(checks(s))
    assert bar["average Hi-WM - Base 40 points >= 30"], "(0.40 + 0.40) / 2"
    assert not bar["no task's world model more than 15 points from the simulator on any policy"], "towel's base"
    assert not bar["every cell at least two draws"] and not bar["world-model evaluation over 9 >= 30 points"]


def test_a_cell_runs_its_task_s_preset_with_its_backbone_and_seed():
    cfg = cell_config(Cell("rope-route", "flow", 3), quick=True, settings={"operator.branches": ["2"]})
    assert (cfg.task, cfg.policy.type, cfg.seed, cfg.operator.branches) == ("rope-route", "flow", 3, 2)
    assert cfg.policy.frame == "rope-route" and cfg.data.expert_episodes == 3, "the task's preset, then --quick"
    with pytest.raises(HiwmError, match="TASK/BACKBONE/SEED"):
        Cell.parse("pusht/diffusion")


def test_quick_grid_runs_each_cell_once_and_reports_the_table(tmp_path, capsys):
    out, report = tmp_path / "runs", tmp_path / "report"
    argv = ["experiment", "--quick", "--tasks", "pusht", "--backbones", "diffusion", "--seeds", "0", "1",
            "--out", str(out), "--report", str(report), "--no-progress", "--evaluation.episodes", "2"]
    assert main(argv) == 0
    summary = json.loads((report / "results.json").read_text())
    cell = summary["cells"]["pusht/diffusion"]
    assert cell["seeds"] == [0, 1] and set(cell["methods"]) == {"base", "wm_cl", "hiwm", "real_hg_dagger"}
    assert cell["cost"]["real_hg_dagger"]["robot_steps"] > 0 == cell["cost"]["hiwm"]["robot_steps"]
    # 4 methods and 4 probes (the base at 1/4 and 1/2 of its training, two outsiders) per draw
    assert summary["evaluation"]["n"] == 16 and summary["evaluation"]["lineages"] == 3 and (report / "success.png").exists() and (report / "sim_vs_wm.png").exists()
    text = (report / "README.md").read_text()
    assert "| pusht/diffusion |" in text and "Pearson r" in text and "## Against the bar" in text
    first = (out / "pusht-diffusion-seed1" / "results.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main([*argv, "--cell", "pusht/diffusion/1"]) == 0, "a finished cell is read, not rerun"
    assert (out / "pusht-diffusion-seed1" / "results.json").stat().st_mtime_ns == first
    assert "cell 1/1: pusht-diffusion-seed1" in capsys.readouterr().out
    assert main(["experiment", "--cell", "pusht/diffusion", "--out", str(out)]) == 2
    assert main([*argv, "--cell", "pusht/diffusion/1", "--operator.branches", "3"]) == 2, "a cell made otherwise"
