"""Multi-process training: `hiwm train-policy` under torchrun with 2 CPU processes (gloo), against 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hiwm
from hiwm.cli import main
from hiwm.data import DatasetWriter, standard_features

# A small flow net pinned to the settings whose curves were smooth for sessions (not the backbone's defaults, which
# may change): no dropout draws that differ per rank, no zero-initialised gates whose plateau ends at a varying step.
TRAIN = ["train-policy", "--policy.type", "flow", "--policy.d_model", "32", "--policy.n_heads", "2", "--policy.n_layers", "2",
         "--policy.dropout", "0", "--policy.conditioning", "tokens", "--policy.prediction_type", "velocity",
         "--policy.causal_actions", "false", "--policy.time_beta_alpha", "1.5",
         "--policy.horizon", "8", "--policy.n_action_steps", "4", "--policy_training.steps", "60",
         "--policy_training.batch_size", "32", "--policy_training.log_every", "10", "--policy_training.lr", "5e-4",
         "--no-progress"]


def tiny_dataset(root: Path) -> Path:
    """Four 40-step Push-T-shaped episodes whose actions follow the state (learnable, made in milliseconds)."""
    rng = np.random.default_rng(0)
    with DatasetWriter.create(root, fps=10, features=standard_features(2, 2, env_dim=16)) as w:
        for _ in range(4):
            T = 40
            s = np.cumsum(rng.normal(0, 10, (T, 2)), 0) + 256
            env = np.tile(s[:, :1], (1, 16)) + rng.normal(0, 1, (T, 16))
            a = s + 20 * np.sin(np.arange(T) / 5)[:, None]
            w.add_episode({"observation.state": s.astype(np.float32), "observation.environment_state": env.astype(np.float32),
                           "action": a.astype(np.float32), "next.reward": np.zeros(T, np.float32),
                           "next.success": np.zeros(T, bool), "source": np.full(T, "expert", dtype=object)}, task="t")
    return root


def shape(history: list) -> np.ndarray:
    losses = np.array([loss for _, loss in history])
    return losses / losses[0]


@pytest.mark.multiprocess
def test_torchrun_two_processes_train_like_one_and_write_one_checkpoint(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "data")
    assert main([*TRAIN, "--data", str(data), "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()

    src = str(Path(hiwm.__file__).resolve().parents[1])  # this checkout's package, not another install
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "hiwm.cli", *TRAIN, "--data", str(data), "--out", str(tmp_path / "two")]
    run = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]

    # Rank 0 alone writes: one "saved" line, one checkpoint, no stray temporary files.
    assert run.stdout.count("saved ") == 1 and "2 processes" in run.stdout, run.stdout
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["config.json", "model.safetensors", "train.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "one", "two"]
    one = json.loads((tmp_path / "one" / "train.json").read_text())
    two = json.loads((tmp_path / "two" / "train.json").read_text())
    assert (one["world_size"], two["world_size"]) == (1, 2)

    # Same global batch, same schedule: the loss falls the same way with 1 and with 2 processes.
    assert [s for s, _ in one["history"]] == [s for s, _ in two["history"]] == list(range(10, 61, 10))
    a, b = shape(one["history"]), shape(two["history"])
    assert a[-1] < 0.6 and b[-1] < 0.6, (one["history"], two["history"])
    assert np.abs(a - b).max() < 0.2, (one["history"], two["history"])
    assert np.all(np.diff(b[1:]) < 0)  # steadily down after the first window

    from hiwm.policies import load_policy

    policy = load_policy(tmp_path / "two")
    obs = {"observation.state": np.full((1, 2), 256.0, np.float32), "observation.environment_state": np.full((1, 16), 256.0, np.float32)}
    assert np.isfinite(policy.select_action(obs).numpy()).all()


def test_rank_and_batch_share_come_from_torchrun_variables(monkeypatch):
    from hiwm.errors import HiwmError
    from hiwm.training import TrainConfig, dist_info, is_main_process
    from hiwm.training.loop import _local_batch

    assert dist_info().world_size == 1 and is_main_process()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    info = dist_info()
    assert (info.rank, info.world_size, info.enabled, is_main_process()) == (1, 2, True, False)
    assert _local_batch(TrainConfig(batch_size=64), info) == 32
    with pytest.raises(HiwmError, match="not divisible"):
        _local_batch(TrainConfig(batch_size=63), info)
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(HiwmError, match="RANK"):
        dist_info()
