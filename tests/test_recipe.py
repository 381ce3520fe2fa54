"""One recipe: presets, the config tree, dotted options, and every stage command running the main command's config."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

import hiwm.stages as stages
from hiwm.cli import config_from_args, main, parse
from hiwm.errors import HiwmError
from hiwm.recipe import RunConfig, as_dict, build, load_preset, preset_names, resolve, split_overrides
from hiwm.recipe.settings import DataConfig
from hiwm.tasks import TASKS

TASK_PRESETS = [(task, quick) for task in TASKS.names() for quick in (False, True)]


def test_every_task_ships_a_preset_and_every_preset_builds():
    assert set(TASKS.names()) <= set(preset_names()) and "quick" in preset_names()
    for name in preset_names():
        build(RunConfig, load_preset(name))


def test_the_task_preset_holds_what_its_report_chose():
    pusht, rope, towel = (resolve(task=t) for t in ("pusht", "rope-route", "towel-fold"))
    assert pusht.operator.max_corrections == 1 and pusht.finetune.lr == 5e-4 and not pusht.finetune.recoveries
    assert rope.data.expert_episodes == 20 and rope.policy.frame == "rope-route"
    assert rope.world_model_training.steps == 6000 and rope.finetune.recoveries
    assert towel.data.expert_episodes == 10 and towel.operator.max_corrections == 3
    assert resolve(task="pusht", preset="towel-fold").data.expert_episodes == 10
    pixel = resolve(preset="pusht-pixel")  # a world-model kind's preset extends its task's
    assert pixel.world_model.type == "pixel" and pixel.operator.max_corrections == 1 and pixel.finetune.lr == 5e-4
    assert pixel.policy.input_features == ["observation.state", "observation.image"]


def test_options_win_over_quick_and_the_preset_in_that_order():
    cfg = resolve(task="rope-route", quick=True, overrides={"data.expert_episodes": ["7"]})
    assert cfg.data.expert_episodes == 7, "an option wins"
    assert cfg.policy_training.steps == 20 and cfg.policy.frame == "rope-route", "quick over the task's preset"
    old = resolve(task="rope-route", overrides=split_overrides(["--demos", "80", "--wm-steps", "2000", "--K", "4",
                                                                "--hg-dagger"]))
    assert (old.data.expert_episodes, old.world_model_training.steps, old.operator.branches) == (80, 2000, 4)
    assert old.real_hg_dagger, "the options the reports quote still work"


@pytest.mark.parametrize("kind", ["ensemble", "chain", "pixel"])
def test_quick_adds_the_sizes_of_the_world_model_kind_the_run_uses(kind):
    """The kind may come from a preset, a config file or an option: --quick's sizes follow the final one."""
    sizes = load_preset(f"quick-{kind}")["world_model"]
    ways = [resolve(quick=True, overrides={"world_model.type": [kind]}),
            resolve(quick=True, config={"world_model": {"type": kind}})]
    if kind == "pixel":
        ways.append(resolve(preset="pusht-pixel", quick=True))
    for cfg in ways:
        assert cfg.world_model.type == kind and cfg.policy_training.steps == 20
        assert all(getattr(cfg.world_model, k) == (tuple(v) if isinstance(v, list) else v) for k, v in sizes.items())


def test_a_new_backbone_keeps_only_the_settings_every_backbone_has():
    cfg = resolve(task="rope-route", quick=True, overrides={"policy.type": ["flow"], "policy.n_layers": ["2"]})
    assert cfg.policy.type == "flow" and cfg.policy.n_layers == 2 and cfg.policy.frame == "rope-route"
    assert cfg.policy.num_inference_steps == 10, "the diffusion section's values do not leak into the flow's"
    assert not hasattr(cfg.policy, "down_dims")
    from hiwm.recipe import as_dict  # a whole config file (every default written) changing the world-model kind
    pixel = resolve(config=as_dict(resolve()), overrides={"world_model.type": ["pixel"]})
    assert (pixel.world_model.members, pixel.world_model.n_hist) == (3, 3), "the pixel kind's own defaults"
    chain = resolve(task="rope-route", overrides={"world_model.type": ["chain"]})
    assert chain.world_model.type == "chain"
    with pytest.raises(HiwmError, match="unknown setting policy.down_dims"):
        resolve(overrides={"policy.type": ["flow"], "policy.down_dims": ["8", "16"]})


@pytest.mark.parametrize("override, needle", [
    ({"operator.branchez": ["2"]}, "unknown setting operator.branchez"),
    ({"operator.branches": ["two"]}, "--operator.branches must be a whole number"),
    ({"finetune.recoveries": ["maybe"]}, "must be on or off"),
    ({"data": ["3"]}, "setting data must be a section"),
    ({"policy.type": ["nope"]}, "unknown policy 'nope'"),
    ({"policy.input_features": []}, "needs at least one value"),
])
def test_bad_settings_are_one_line_errors(override, needle):
    with pytest.raises(HiwmError, match=needle) as e:
        resolve(overrides=override)
    assert "\n" not in str(e.value)


def test_config_files_round_trip_and_are_checked(tmp_path, capsys):
    path = tmp_path / "c.json"
    assert main(["config", "--task", "rope-route", "--operator.branches", "4", "--save", str(path)]) == 0
    again = resolve(config_file=path)
    assert again == resolve(task="rope-route", overrides={"operator.branches": ["4"]})
    assert as_dict(again) == json.loads(path.read_text())
    path.write_text(json.dumps({"operator": {"branches": "4"}}))
    with pytest.raises(HiwmError, match="setting operator.branches must be a whole number"):
        resolve(config_file=path)
    assert main(["presets"]) == 0 and "rope-route" in capsys.readouterr().out


def test_main_command_help_lists_few_options_of_its_own():
    from hiwm.cli import build_parser

    run = next(a for a in build_parser()._actions if a.dest == "command").choices["run"]
    own = [a for a in run._actions if a.option_strings]
    assert len(own) <= 15, [a.option_strings for a in own]


def test_a_run_folder_made_with_other_settings_is_refused(tmp_path):
    from hiwm.pipeline import Pipeline

    cfg = RunConfig()
    Pipeline(cfg, tmp_path)
    Pipeline(replace(cfg, real_hg_dagger=True), tmp_path)  # adding the HG-DAgger reference is a rerun
    with pytest.raises(HiwmError, match=r"other settings \(data.expert_episodes, operator.branches\)"):
        Pipeline(replace(cfg, data=DataConfig(expert_episodes=6), operator=replace(cfg.operator, branches=4)), tmp_path)
    assert RunConfig().finetune == build(RunConfig, json.loads((tmp_path / "config.json").read_text())).finetune


# ------------------------------------------------------ stage == main command ----
class Called(Exception):
    """Raised by a stage stand-in with the config it was called with."""


def _capture(monkeypatch, name: str):
    def stand_in(cfg, *args, **kwargs):
        raise Called(cfg)
    monkeypatch.setattr(stages, name, stand_in)


STAGE_COMMANDS = {
    "collect_episodes": ["collect", "--kind", "play", "--out", "OUT"],
    "train_base_policy": ["train-policy", "--data", "D", "--out", "OUT"],
    "train_world_model": ["train-wm", "--data", "D", "--out", "OUT"],
    "run_correction_campaign": ["correct", "--policy", "P", "--world-model", "W", "--out", "OUT"],
    "finetune_policy": ["post-train", "--policy", "P", "--demos", "D", "--corrections", "C", "--out", "OUT"],
    "evaluate_policy": ["eval", "--policy", "P", "--out", "OUT"],
}


@pytest.mark.parametrize("task, quick", TASK_PRESETS)
@pytest.mark.parametrize("stage", sorted(STAGE_COMMANDS))
def test_every_stage_command_runs_the_main_command_s_config(stage, task, quick, monkeypatch, tmp_path):
    """Each stage command hands its stage function exactly the config `hiwm run` would, for every task's preset."""
    import hiwm.cli as cli
    import hiwm.policies
    import hiwm.world_models

    monkeypatch.chdir(tmp_path)
    _capture(monkeypatch, stage)
    monkeypatch.setattr(cli, "_datasets", lambda paths: [type("D", (), {"stats": {}})()])
    monkeypatch.setattr(hiwm.policies, "load_policy", lambda *a, **k: None)
    monkeypatch.setattr(hiwm.world_models, "load_world_model", lambda *a, **k: None)
    monkeypatch.setattr(stages, "correction_windows", lambda *a, **k: [])
    extra = ["--task", task, "--seed", "3", "--operator.budget", "600", *(["--quick"] if quick else [])]
    main_cfg = config_from_args(parse(["run", *extra]))
    args = parse([*STAGE_COMMANDS[stage], *extra])
    with pytest.raises(Called) as got:
        args.fn(args)
    assert got.value.args[0] == main_cfg


def test_the_main_command_hands_its_config_to_the_stages(monkeypatch, tmp_path):
    import hiwm.pipeline

    def stand_in(cfg, *args, **kwargs):
        raise Called(cfg)
    monkeypatch.setattr(hiwm.pipeline, "collect_episodes", stand_in)
    args = parse(["run", "--task", "towel-fold", "--quick", "--out", str(tmp_path / "run"), "--finetune.lr", "1e-4"])
    with pytest.raises(Called) as got:
        args.fn(args)
    assert got.value.args[0] == config_from_args(args) and got.value.args[0].finetune.lr == 1e-4
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert build(RunConfig, saved) == config_from_args(args), "the run folder keeps the exact config"


def test_evaluation_probes_are_checked_when_the_config_is_built():
    cfg = resolve(overrides={"evaluation.checkpoints": ["0.25", "0.5"], "evaluation.outsiders": ["late_expert"]})
    assert cfg.evaluation.checkpoints == (0.25, 0.5) and cfg.evaluation.outsiders == ("late_expert",)
    with pytest.raises(HiwmError, match="fractions of the base's training"):
        resolve(overrides={"evaluation.checkpoints": ["1.5"]})
    with pytest.raises(HiwmError, match="unknown evaluation.outsiders"):
        resolve(overrides={"evaluation.outsiders": ["ghost"]})
