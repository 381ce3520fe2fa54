"""`hiwm train-policy`: every registered backbone and the observation options, from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hiwm.cli import main
from hiwm.data import DatasetWriter, standard_features
from hiwm.data.collect import record_episode
from hiwm.policies import POLICIES, load_policy
from hiwm.tasks import make_expert, make_task


@pytest.fixture(scope="module")
def lowdim_demos(tmp_path_factory):
    """Two 20-step expert episodes recorded without images."""
    root = tmp_path_factory.mktemp("demos") / "ds"
    env = make_task("pusht", images=False)
    with DatasetWriter.create(root, fps=10, features=standard_features(2, 2, env_dim=16)) as w:
        for seed in (0, 1):
            expert = make_expert("pusht", seed=seed)
            frames, _ = record_episode(env, lambda o, s, expert=expert: expert.act(o), seed, 20, images=False, stop_on_success=False)
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
            "--policy.horizon", "8", "--policy.n_action_steps", "4", "--policy_training.steps", "4",
            "--policy_training.batch_size", "8", "--policy_training.log_every", "2", "--no-progress", *small]
    assert main(argv) == 0, capsys.readouterr().err
    policy = load_policy(out)
    assert policy.config.type == policy_type
    assert policy.config.input_features == ["observation.state", "observation.image"] and policy.config.image_size == 32
    assert [s for s, _ in json.loads((out / "train.json").read_text())["history"]] == [2, 4]
