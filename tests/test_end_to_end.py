"""The whole loop on tiny settings through the CLI (`hiwm demo --quick`): the CI smoke test."""

import json

import pytest

from hiwm.cli import main


def test_quick_demo_runs_the_whole_loop(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["demo", "--quick", "--out", str(run), "--no-progress"]) == 0
    results = json.loads((run / "report" / "results.json").read_text())
    assert set(results["methods"]) == {"base", "wm_cl", "hiwm"}
    for m in results["methods"].values():
        assert 0.0 <= m["sim_success"] <= 1.0 and 0.0 <= m["wm_success"] <= 1.0 and m["episodes"] == 3
        assert m["sim_ci95"][0] <= m["sim_success"] <= m["sim_ci95"][1]
    cost = results["cost"]["hiwm"]
    assert cost["robot_steps"] == 0 and 0 < cost["operator_steps"] <= 45
    # the world model's own data: 3 play and 2 policy play episodes of --quick's 100 steps
    assert results["cost"]["world_model_data"] == {"robot_steps": 500, "play_steps": 300, "policy_play_steps": 200}
    for name in ("README.md", "success.png", "sim_vs_wm.png"):
        assert (run / "report" / name).stat().st_size > 0
    # the corrections dataset holds operator frames flagged intervention=True
    from hiwm.data import LeRobotDataset

    ds = LeRobotDataset(run / "hiwm" / "corrections")
    src, flag = ds.column("source"), ds.column("intervention")
    assert flag.any() and set(src[flag]) == {"operator"} and not flag[src == "policy"].any()
    assert "Hi-WM" in capsys.readouterr().out
    # a rerun skips every finished stage
    assert main(["demo", "--quick", "--out", str(run), "--no-progress"]) == 0
    assert json.loads((run / "report" / "results.json").read_text())["methods"] == results["methods"]


@pytest.mark.parametrize("argv,needle", [
    (["demo", "--task", "nope", "--quick"], "unknown task 'nope'"),
    (["eval", "--policy", "/nonexistent/ckpt"], "not found"),
    (["train-wm", "--data", "/nonexistent/data", "--out", "x"], "nonexistent"),
])
def test_bad_input_is_one_line_error(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hiwm: error:") and needle in err and "\n" not in err


def test_whole_loop_on_a_deformable_task(tmp_path):
    """rope-route through every stage at toy sizes (seconds): MuJoCo data, a policy on 4-D gripper
    actions, the rope codec's world model, the scripted operator with the task's thresholds (metres),
    WM-CL, post-training, evaluation in simulator and model, the report."""
    from hiwm.evaluation.report import write_report
    from hiwm.pipeline import Pipeline, PipelineConfig

    cfg = PipelineConfig.quick(task="rope-route", demos=2, play_episodes=2, episode_steps=24, policy_steps=4,
                               finetune_steps=2, wm_steps=4, wm_cl_rollouts=2, eval_episodes=2, accuracy_episodes=2,
                               operator={"budget": 8, "horizon": 4, "rollback": 2, "branches": 2}, hg_dagger=True)
    results = Pipeline(cfg, tmp_path / "run", progress=False).run()
    assert results["task"] == "rope-route" and results["protocol"]["operator"]["disagree"] < 1.0
    for m in results["methods"].values():
        assert m["episodes"] == 2 and 0.0 <= m["sim_success"] <= 1.0 and 0.0 <= m["wm_success"] <= 1.0
    assert results["cost"]["hiwm"]["robot_steps"] == 0 and 0 < results["cost"]["hiwm"]["operator_steps"] <= 8
    # Real HG-DAgger: the same operator budget spent in the simulator, paid for in robot steps and resets
    hg = results["cost"]["real_hg_dagger"]
    assert 0 < hg["operator_steps"] <= 8 and hg["robot_steps"] >= 24 and hg["resets"] == hg["sessions"] >= 1
    assert list(results["methods"]) == ["base", "wm_cl", "hiwm", "real_hg_dagger"]
    acc = results["wm_accuracy"]
    assert "mm" in next(k for k in acc["1"]["model"]) and acc["episodes"]["expert"]["count"] == 1
    assert 0.0 <= acc["expert_in_model"]["success"] <= 1.0
    report = write_report(results, tmp_path / "report", "test").read_text()
    assert "object_mm (model)" in report and "expert episodes only" in report and "Real HG-DAgger" in report
