"""The whole loop on tiny settings through the CLI (`hiwm run --quick`): the CI smoke test."""

import json

import pytest

from hiwm.cli import main


def test_quick_demo_runs_the_whole_loop(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["run", "--quick", "--out", str(run), "--no-progress"]) == 0
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
    assert main(["run", "--quick", "--out", str(run), "--no-progress"]) == 0
    assert json.loads((run / "report" / "results.json").read_text())["methods"] == results["methods"]


@pytest.mark.parametrize("argv,needle", [
    (["run", "--task", "nope", "--quick"], "unknown task 'nope'"),
    (["eval", "--policy", "/nonexistent/ckpt"], "not found"),
    (["run", "--operator.branchez", "3"], "unknown setting operator.branchez"),
    (["run", "--finetune.lr", "fast"], "--finetune.lr must be a number"),
    (["run", "--preset", "nope"], "unknown preset 'nope'"),
    (["run", "--config", "/nonexistent/config.json"], "config file not found"),
    (["train-policy", "--data", "x", "--out", "y", "stray"], "unexpected argument 'stray'"),
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
    from hiwm.pipeline import Pipeline
    from hiwm.recipe import resolve

    small = {"data.expert_episodes": 2, "data.play_episodes": 2, "data.episode_steps": 24, "policy_training.steps": 4,
             "finetune.steps": 2, "world_model_training.steps": 4, "wm_cl.rollouts": 2, "evaluation.episodes": 2,
             "evaluation.accuracy_episodes": 2, "operator.budget": 8, "operator.horizon": 4, "operator.rollback": 2,
             "operator.branches": 2, "real_hg_dagger": "on"}
    cfg = resolve(task="rope-route", quick=True, overrides={k: [str(v)] for k, v in small.items()})
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


def test_whole_loop_on_the_pixel_world_model_with_an_image_policy(tmp_path):
    """Push-T with the pixel world model and a policy that sees frames: every stage runs on the model's own frames,
    and the corrections and WM-CL's kept rollouts hold the frames the policy and the operator saw."""
    from hiwm.data import LeRobotDataset
    from hiwm.tasks.base import IMAGE_KEY

    run = tmp_path / "run"
    argv = ["run", "--preset", "pusht-pixel", "--quick", "--out", str(run), "--no-progress", "--wm_cl.rollouts", "6"]
    assert main(argv) == 0
    results = json.loads((run / "report" / "results.json").read_text())
    assert results["world_model"] == "pixel" and set(results["methods"]) == {"base", "wm_cl", "hiwm"}
    assert results["cost"]["hiwm"]["robot_steps"] == 0 and results["cost"]["hiwm"]["operator_steps"] > 0
    corrections = LeRobotDataset(run / "hiwm" / "corrections")
    assert IMAGE_KEY in corrections.features and corrections.episode(0)[IMAGE_KEY].shape[1:] == (96, 96, 3)
    kept = LeRobotDataset(run / "wm_cl" / "kept")
    assert kept.num_episodes == 0 or IMAGE_KEY in kept.features
