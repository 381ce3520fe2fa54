"""`hiwm tune`: one method's settings swept on the validation seeds from a finished run, its shared stages reused."""

from __future__ import annotations

import json

import pytest

from hiwm.cli import main
from hiwm.errors import HiwmError
from hiwm.evaluation.tune import split_axes
from hiwm.recipe import as_dict, resolve


def test_several_values_make_an_axis_and_only_a_method_s_own_settings_may_be_tuned():
    tree = as_dict(resolve(quick=True))
    axes, fixed = split_axes(tree, {"wm_cl.rollouts": ["2", "4"], "finetune.lr": ["1e-4"]})
    assert axes == {"wm_cl.rollouts": ["2", "4"]} and fixed == {"finetune.lr": ["1e-4"]}
    with pytest.raises(HiwmError, match="shared stages"):
        split_axes(tree, {"policy_training.steps": ["10", "20"]})
    with pytest.raises(HiwmError, match="unknown setting wm_cl.nope"):
        split_axes(tree, {"wm_cl.nope": ["1", "2"]})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished quick run: its data, base, world model and campaigns."""
    run = tmp_path_factory.mktemp("tune") / "run"
    assert main(["run", "--quick", "--out", str(run), "--no-progress"]) == 0
    return run


def test_tune_reruns_only_the_method_s_stages_and_scores_each_setting_on_validation(run, tmp_path, capsys):
    base_weights = (run / "policies" / "base" / "model.safetensors").stat().st_mtime_ns
    out = tmp_path / "tune"
    argv = ["tune", "--run", str(run), "--method", "wm_cl", "--episodes", "2", "--out", str(out), "--no-progress",
            "--wm_cl.rollouts", "2", "3", "--wm_cl.lr", "1e-4"]
    assert main(argv) == 0
    result = json.loads((out / "report" / "results.json").read_text())
    assert [r["label"] for r in result["rows"]] == ["base", "wm_cl.rollouts=2", "wm_cl.rollouts=3"]
    assert result["eval_seeds"] == [9000, 9002] and result["best"] in ("wm_cl.rollouts=2", "wm_cl.rollouts=3")
    folder = out / "wm_cl.rollouts=3"
    assert (folder / "policies" / "base").is_symlink() and (folder / "world_model").is_symlink()
    assert json.loads((folder / "wm_cl" / "done.json").read_text())["rollouts"] == 3
    assert json.loads((folder / "config.json").read_text())["wm_cl"]["lr"] == 1e-4
    assert (folder / "policies" / "wm_cl" / "model.safetensors").exists() and not (folder / "hiwm").exists()
    assert result["reused"] is None  # the rollouts' number changes WM-CL's data: made again for each
    assert (run / "policies" / "base" / "model.safetensors").stat().st_mtime_ns == base_weights
    assert (out / "report" / "tune.png").exists() and "best on validation" in capsys.readouterr().out
    assert main(["tune", "--run", str(tmp_path / "nothing"), "--method", "wm_cl"]) == 2


def test_fine_tune_settings_alone_reuse_the_run_s_campaign(run, tmp_path):
    cost = (run / "hiwm" / "cost.json").read_text()
    out = tmp_path / "tune"
    argv = ["tune", "--run", str(run), "--method", "hiwm", "--episodes", "2", "--out", str(out), "--no-progress",
            "--finetune.lr", "1e-4", "2e-4"]
    assert main(argv) == 0
    result = json.loads((out / "report" / "results.json").read_text())
    assert result["reused"] == "hiwm" and [r["label"] for r in result["rows"]][1:] == ["finetune.lr=1e-4",
                                                                                       "finetune.lr=2e-4"]
    for lr in ("1e-4", "2e-4"):
        folder = out / f"finetune.lr={lr}"
        assert (folder / "hiwm").is_symlink() and (folder / "policies" / "hiwm" / "model.safetensors").exists()
    assert not (out / "base" / "hiwm").exists() and (run / "hiwm" / "cost.json").read_text() == cost
    assert "reused" in (out / "report" / "README.md").read_text()
    fixed_only = ["tune", "--run", str(run), "--method", "hiwm", "--episodes", "2", "--out", str(tmp_path / "one"),
                  "--no-progress", "--finetune.lr", "3e-4"]  # one value: fixed, and the row is named after it
    assert main(fixed_only) == 0
    rows = json.loads((tmp_path / "one" / "report" / "results.json").read_text())["rows"]
    assert [r["label"] for r in rows] == ["base", "finetune.lr=3e-4"] and (tmp_path / "one" / "finetune.lr=3e-4").is_dir()
