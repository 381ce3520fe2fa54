"""Rounds: each method's budget split over DAgger-style rounds, each round watching the policy fine-tuned
on the rounds before (pipeline.py, PipelineConfig.rounds)."""

import json

from hiwm.data import LeRobotDataset
from hiwm.evaluation.report import write_report
from hiwm.pipeline import SEEDS, Pipeline, PipelineConfig


def test_two_rounds_split_the_budget_and_watch_the_updated_policy(tmp_path):
    cfg = PipelineConfig.quick(demos=2, play_episodes=2, episode_steps=100, policy_steps=4, finetune_steps=2,
                               wm_steps=4, wm_cl_rollouts=3, eval_episodes=1, accuracy_episodes=1, rounds=2,
                               operator={"budget": 31, "horizon": 5, "rollback": 2, "branches": 2, "disagree": 1.0,
                                         "patience": 1},
                               hg_dagger=True)
    run = tmp_path / "run"
    results = Pipeline(cfg, run, progress=False).run()
    for kind, variant in (("hiwm", "hiwm"), ("hg_dagger", "real_hg_dagger")):
        c0, c1 = (json.loads((run / kind / f"round-{i}" / "cost.json").read_text()) for i in range(2))
        assert c0["operator_steps"] <= 15 and c1["operator_steps"] <= 16  # B = 31 split 15 + 16
        assert c0["first_seed"] == SEEDS[kind] and c1["first_seed"] == SEEDS[kind] + c0["sessions"]
        cost = results["cost"][variant]
        assert cost["operator_steps"] == c0["operator_steps"] + c1["operator_steps"] > 0
        assert cost["sessions"] == c0["sessions"] + c1["sessions"]
        # round 1 watched the policy fine-tuned on round 0's data; the variant is the last round's fine-tune
        assert (run / "policies" / f"{variant}-round-0" / "model.safetensors").exists()
        assert (run / "policies" / variant / "model.safetensors").exists()
    seeds = [LeRobotDataset(run / "wm_cl" / f"round-{i}" / "kept") for i in range(2)]
    done = [json.loads((run / "wm_cl" / f"round-{i}" / "done.json").read_text()) for i in range(2)]
    assert [d["rollouts"] for d in done] == [1, 2] and results["cost"]["wm_cl"]["rollouts"] == 3
    assert results["protocol"]["rounds"] == 2 and len(seeds) == 2
    assert "in 2 rounds" in write_report(results, tmp_path / "report", "test").read_text()
    # a rerun finds every round cached
    again = Pipeline(cfg, run, progress=False).run()
    assert again["methods"] == results["methods"] and again["cost"] == results["cost"]
