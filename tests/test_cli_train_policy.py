"""`hiwm train-policy`: every registered backbone and the observation options, from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hiwm.cli import build_parser, demo_policy, main
from hiwm.data import DatasetWriter, standard_features
from hiwm.data.collect import record_episode
from hiwm.errors import HiwmError
from hiwm.policies import POLICIES, load_policy
from hiwm.tasks import make_expert, make_task


def test_help_documents_every_backbone_and_the_observation_options():
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["train-policy"]
    text = sub.format_help()
    for name in POLICIES.names():
        assert f"{name} backbone options" in text
    for option in ("--policy.input_features", "--policy.image_size", "--policy.crop_fraction", "--policy.image_encoder",
                   "--policy.d_model", "--policy.down_dims", "torchrun"):
        assert option in text
    flat = " ".join(text.split())
    assert "diffusion: epsilon, sample; flow: velocity, sample" in flat  # per-backbone choices of a shared field
    assert "one of tokens, adaptive_time, adaptive" in flat


@pytest.fixture(scope="module")
def lowdim_demos(tmp_path_factory):
    """Two 20-step expert episodes recorded without images."""
    root = tmp_path_factory.mktemp("demos") / "ds"
    env = make_task("pusht", images=False)
    with DatasetWriter.create(root, fps=10, features=standard_features(2, 2, env_dim=16)) as w:
        for seed in (0, 1):
            expert = make_expert("pusht", seed=seed)
            frames, _ = record_episode(env, lambda o, s: expert.act(o), seed, 20, images=False, stop_on_success=False)
            frames["source"] = np.full(len(frames["action"]), "expert", dtype=object)
            w.add_episode(frames, task="t")
    return root


@pytest.mark.parametrize("policy_type", POLICIES.names())
def test_image_policy_trains_on_a_dataset_without_stored_images(policy_type, lowdim_demos, tmp_path, capsys):
    small = {"diffusion": ["--policy.down_dims", "8", "16", "--policy.n_groups", "4", "--policy.step_embed_dim", "8"],
             "flow": ["--policy.d_model", "16", "--policy.n_heads", "2"]}.get(policy_type, [])
    out = tmp_path / "ckpt"
    argv = ["train-policy", "--data", str(lowdim_demos), "--out", str(out), "--policy.type", policy_type,
            "--policy.input_features", "state", "image", "--policy.image_size", "32", "--policy.image_width", "4",
            "--policy.horizon", "8", "--policy.n_action_steps", "4", "--steps", "4", "--batch-size", "8",
            "--log-every", "2", "--no-progress", *small]
    assert main(argv) == 0, capsys.readouterr().err
    policy = load_policy(out)
    assert policy.config.type == policy_type
    assert policy.config.input_features == ["observation.state", "observation.image"] and policy.config.image_size == 32
    assert [s for s, _ in json.loads((out / "train.json").read_text())["history"]] == [2, 4]


def test_an_option_of_another_backbone_is_a_one_line_error(lowdim_demos, tmp_path, capsys):
    assert main(["train-policy", "--data", str(lowdim_demos), "--out", str(tmp_path / "x"), "--policy.type", "diffusion",
                 "--policy.d_model", "64"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hiwm: error:") and "d_model is not an option of the diffusion backbone" in err
    assert "\n" not in err and not (tmp_path / "x").exists()


def test_demo_keeps_the_pipeline_sizes_for_its_backbone_and_takes_another():
    from hiwm.pipeline import PipelineConfig

    parser, pipeline = build_parser(), PipelineConfig().policy
    assert demo_policy(pipeline, parser.parse_args(["demo"])) == pipeline
    args = parser.parse_args(["demo", "--policy.input_features", "state", "image"])
    assert demo_policy(pipeline, args) == {**pipeline, "input_features": ["observation.state", "observation.image"]}
    args = parser.parse_args(["demo", "--policy.type", "flow", "--policy.n_layers", "3"])
    assert demo_policy(pipeline, args) == {"type": "flow", "n_layers": 3}
    with pytest.raises(HiwmError, match="down_dims is not an option of the flow backbone"):
        demo_policy(pipeline, parser.parse_args(["demo", "--policy.type", "flow", "--policy.down_dims", "8", "16"]))


def test_demo_step_options_reach_the_pipeline_and_default_to_the_protocol():
    from hiwm.cli import demo_config
    from hiwm.pipeline import PipelineConfig

    parser, default = build_parser(), PipelineConfig()
    cfg = demo_config(parser.parse_args(["demo", "--task", "rope-route"]))
    assert (cfg.task, cfg.policy_steps, cfg.finetune_steps) == ("rope-route", default.policy_steps, default.finetune_steps)
    cfg = demo_config(parser.parse_args(["demo", "--policy-steps", "12000", "--finetune-steps", "2000", "--demos", "7"]))
    assert (cfg.policy_steps, cfg.finetune_steps, cfg.demos) == (12000, 2000, 7)
    assert parser.parse_args(["sweep-demos", "--policy-steps", "3000"]).policy_steps == 3000
    assert demo_config(parser.parse_args(["demo"])).wm_policy_episodes == default.wm_policy_episodes
    assert demo_config(parser.parse_args(["demo", "--wm-policy-episodes", "0"])).wm_policy_episodes == 0


def test_demo_takes_the_task_s_own_settings_and_options_win():
    from hiwm.cli import demo_config
    from hiwm.pipeline import PipelineConfig

    parser, default = build_parser(), PipelineConfig()
    rope = demo_config(parser.parse_args(["demo", "--task", "rope-route"]))
    assert (rope.demos, rope.wm_steps, rope.policy["frame"]) == (20, 6000, "rope-route")
    assert rope.policy["down_dims"] == default.policy["down_dims"]  # merged into the pipeline's policy, not replaced
    assert demo_config(parser.parse_args(["demo", "--task", "towel-fold"])).demos == 10
    pusht = demo_config(parser.parse_args(["demo"]))
    assert (pusht.demos, pusht.wm_steps, pusht.policy) == (default.demos, default.wm_steps, default.policy)
    given = demo_config(parser.parse_args(["demo", "--task", "rope-route", "--demos", "80", "--wm-steps", "2000",
                                           "--policy.frame", ""]))
    assert (given.demos, given.wm_steps, given.policy["frame"]) == (80, 2000, "")
    quick = demo_config(parser.parse_args(["demo", "--quick", "--task", "rope-route"]))
    assert quick.demos == PipelineConfig.quick().demos and "frame" not in quick.policy


def test_demo_corrections_settings_per_task_and_options_win():
    from hiwm.cli import demo_config

    parser = build_parser()
    pusht = demo_config(parser.parse_args(["demo"]))
    assert (pusht.recoveries, pusht.operator["max_corrections"], pusht.finetune_lr) == (False, 1, 5e-4)
    for task in ("rope-route", "towel-fold"):  # as their reports were made
        cfg = demo_config(parser.parse_args(["demo", "--task", task]))
        assert (cfg.recoveries, cfg.operator["max_corrections"], cfg.operator["branches"]) == (True, 3, 1)
        assert cfg.finetune_lr == pytest.approx(1e-3 / 3)
    given = demo_config(parser.parse_args(["demo", "--recoveries", "on", "--max-corrections", "3",
                                           "--finetune-lr", "3e-4"]))
    assert (given.recoveries, given.operator["max_corrections"], given.finetune_lr) == (True, 3, 3e-4)
    assert parser.parse_args(["post-train", "--policy", "p", "--demos", "d", "--corrections", "c",
                              "--out", "o"]).recoveries == "off"
    for bad in (["--max-corrections", "0"], ["--finetune-lr", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["demo", *bad])


def test_demo_world_model_options():
    from hiwm.cli import demo_config
    from hiwm.pipeline import PipelineConfig

    parser = build_parser()
    cfg = demo_config(parser.parse_args(["demo", "--task", "rope-route", "--wm.type", "chain", "--wm-steps", "3000"]))
    assert cfg.wm == {"type": "chain"} and cfg.wm_steps == 3000
    assert demo_config(parser.parse_args(["demo"])).wm == PipelineConfig().wm
    quick = demo_config(parser.parse_args(["demo", "--quick", "--wm.type", "chain"]))
    assert quick.wm["type"] == "chain" and quick.wm["channels"] < 32
    with pytest.raises(HiwmError, match="unknown world model") as e:
        demo_config(parser.parse_args(["demo", "--wm.type", "chian"]))
    assert "\n" not in str(e.value)


def test_a_step_count_below_one_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as stop:  # argparse's own usage error, before anything runs
        main(["demo", "--policy-steps", "0"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--policy-steps" in err and "must be at least 1" in err


def test_demo_operator_and_round_options_reach_the_pipeline():
    from hiwm.cli import demo_config

    parser = build_parser()
    default = {"branches": 1, "max_corrections": 1}
    assert demo_config(parser.parse_args(["demo"])).operator == default
    cfg = demo_config(parser.parse_args(["demo", "--K", "1", "--r", "0", "--B", "600", "--rounds", "2"]))
    assert cfg.operator == {**default, "rollback": 0, "budget": 600} and cfg.rounds == 2
    quick = demo_config(parser.parse_args(["demo", "--quick", "--K", "1"]))
    assert quick.operator == {"budget": 45, "branches": 1}  # --quick's budget kept, K replaced
    assert demo_config(parser.parse_args(["demo", "--risk", "on"])).operator == {**default, "risk": True}
    assert demo_config(parser.parse_args(["demo", "--risk", "off"])).operator == {**default, "risk": False}
    assert demo_config(parser.parse_args(["demo", "--regress", "0.1"])).operator == {**default, "regress": 0.1}
    assert demo_config(parser.parse_args(["demo", "--confirm", "on"])).operator == {**default, "confirm": True}
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--regress", "-1"])


def test_a_run_folder_made_with_other_settings_is_refused(tmp_path):
    from hiwm.pipeline import Pipeline, PipelineConfig

    Pipeline(PipelineConfig(demos=5), tmp_path)
    Pipeline(PipelineConfig(demos=5, hg_dagger=True), tmp_path)  # adding the HG-DAgger reference is a rerun
    with pytest.raises(HiwmError, match=r"other settings \(demos, operator\); use another --out"):
        Pipeline(PipelineConfig(demos=6, operator={"branches": 4}), tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"demos": 5}))  # an older run: missing fields are defaults
    Pipeline(PipelineConfig(demos=5, wm_policy_episodes=0, recoveries=True, finetune_lr=1e-3 / 3), tmp_path)
    # ... except a field whose value before it existed is not today's default: that run had no policy play and
    # trained on the recoveries
    (tmp_path / "config.json").write_text(json.dumps({"demos": 5}))
    with pytest.raises(HiwmError, match=r"other settings \(finetune_lr, recoveries, wm_policy_episodes\)"):
        Pipeline(PipelineConfig(demos=5), tmp_path)
