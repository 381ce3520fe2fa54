"""The pixel world model's fidelity experiment on tiny data: it trains, measures and writes its report."""

from __future__ import annotations

import json

import pytest

from hiwm.experiments.pixel_fidelity import main
from hiwm.tasks import TASKS


@pytest.mark.parametrize("task", TASKS.names())
def test_fidelity_report_on_tiny_data(tmp_path, task):
    report = tmp_path / "report"
    assert main(["--task", task, "--quick", "--out", str(tmp_path / "out"), "--report", str(report), "--episodes", "2",
                 "--labels", "40", "--no-progress"]) == 0
    results = json.loads((report / "results.json").read_text())
    assert results["world_model"]["type"] == "pixel" and results["world_model"]["widths"] == [8, 8, 8]
    assert {"1", "10", "30"} <= set(results["frames"]) and "copy_last" in results["frames"]["10"]
    assert set(results["perception"]) == {"as_trained", "40"}
    assert 0.0 <= results["expert_in_model"]["success"] <= 1.0 and results["expert_in_model"]["episodes"] == 2
    text = (report / "README.md").read_text()
    assert "## Frames" in text and "scripted expert acting on the model's frames" in text
    assert (report / "strip.png").exists()
