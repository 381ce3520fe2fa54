"""The demonstration sweep: one base per count, judged on validation seeds (never the held-out ones)."""

import json

from hiwm.evaluation.sweep import BAND, demo_sweep
from hiwm.recipe import resolve
from hiwm.stages import VALIDATION_SEED


def test_sweep_trains_one_base_per_count_on_validation_seeds(tmp_path):
    cfg = resolve(quick=True, overrides={"data.play_episodes": ["0"], "policy_training.steps": ["4"],
                                         "data.episode_steps": ["150"]})
    out = demo_sweep(cfg, [2, 1], tmp_path, episodes=2, progress=False)
    assert sorted(out["counts"]) == [1, 2] and out["chosen"] in (1, 2)
    assert out["eval_seeds"] == [VALIDATION_SEED, VALIDATION_SEED + 2] and tuple(out["band"]) == BAND
    for n, r in out["counts"].items():
        assert (tmp_path / f"demos_{n}" / "policies" / "base" / "model.safetensors").exists()
        assert r["sim_ci95"][0] <= r["sim_success"] <= r["sim_ci95"][1] and r["frames"] > 0
    assert json.loads((tmp_path / "sweep.json").read_text())["chosen"] == out["chosen"]
