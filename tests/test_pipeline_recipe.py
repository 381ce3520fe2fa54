"""What Hi-WM fine-tunes on (finetune.recoveries): the corrective steps alone by default, a successful
branch's imagined recovery too when asked."""

import numpy as np
import pytest

from hiwm.data import DatasetWriter
from hiwm.recipe import resolve
from hiwm.stages import correction_windows
from hiwm.policies import make_policy
from hiwm.session.export import correction_features
from hiwm.tasks.pusht import PushTTask


def _branch(writer, success_at: int, outcome: str) -> None:
    """A 30-step branch corrected at steps 10-14, judged a success from ``success_at`` on."""
    T, t = 30, np.arange(30)
    spec = PushTTask.spec_
    corrective = (t >= 10) & (t < 15)
    writer.add_episode({
        "observation.state": np.zeros((T, spec.agent_dim), np.float32),
        "observation.environment_state": np.zeros((T, spec.env_dim), np.float32),
        "action": np.zeros((T, spec.action_dim), np.float32), "next.reward": np.zeros(T, np.float32),
        "next.success": t >= success_at, "next.done": t == T - 1, "next.uncertainty": np.zeros(T, np.float32),
        "intervention": corrective, "source": np.where(corrective, "operator", "policy").astype(object),
        "node_id": t, "parent_node_id": t - 1, "branch_id": np.ones(T, np.int64), "on_branch": np.ones(T, bool),
        "wm_checkpoint": np.full(T, "x", dtype=object)}, task="t", meta={"outcome": outcome})


@pytest.mark.parametrize("recoveries, starts", [(False, 5 + 5), (True, 13 + 5)])
def test_hiwm_windows_start_on_corrections_and_recoveries_only_when_asked(tmp_path, recoveries, starts):
    root = tmp_path / "corrections"
    with DatasetWriter.create(root, fps=10, features=correction_features(PushTTask.spec_)) as w:
        _branch(w, success_at=22, outcome="success")  # correction 10-14, recovery 15-22
        _branch(w, success_at=99, outcome="failure")  # correction 10-14 only
    cfg = resolve(quick=True, overrides={"finetune.recoveries": [str(recoveries)]})
    spec = PushTTask.spec_
    policy = make_policy("diffusion", action_dim=spec.action_dim, down_dims=(16, 32), n_groups=4,
                         feature_dims={"observation.state": spec.agent_dim, "observation.environment_state": spec.env_dim})
    assert len(correction_windows(cfg, policy, [root])) == starts


def test_wm_cl_fine_tunes_with_its_own_lr_and_share_and_hiwm_with_finetune_s(tmp_path, monkeypatch):
    import hiwm.pipeline as pipeline

    seen = {}

    def fake_finetune(cfg, base_dir, demos, new, progress):
        seen[len(seen)] = (cfg.finetune.lr, cfg.finetune.new_data_weight)
        raise StopIteration  # enough: what the stage was handed

    monkeypatch.setattr(pipeline, "finetune_policy", fake_finetune)
    cfg = resolve(quick=True, overrides={"wm_cl.lr": ["1e-5"], "wm_cl.new_data_weight": ["0.25"], "finetune.lr": ["2e-4"]})
    pipe = pipeline.Pipeline(cfg, tmp_path / "run", progress=False)
    for name in ("wm_cl", "hiwm"):
        with pytest.raises(StopIteration):
            pipe.finetune(name, None, None)
    assert seen == {0: (1e-5, 0.25), 1: (2e-4, cfg.finetune.new_data_weight)}
