"""One small dataset of every kind hiwm writes, for the LeRobot-compatibility tests (seconds in all).

expert demos, play, policy play (collect's three modes), demos with camera frames, and a corrections
export (a session in the world model with two operator corrections, written by session/export.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hiwm.data import DatasetWriter
from hiwm.data.collect import collect
from hiwm.policies import make_policy
from hiwm.session.engine import Session, SessionConfig
from hiwm.session.export import export_branches, exportable_branches
from hiwm.tasks.base import ENV_KEY, STATE_KEY
from hiwm.tasks.pusht import PushTTask
from hiwm.world_models import EnsembleConfig, EnsembleWorldModel

KINDS = ("expert", "play", "policy", "images", "corrections")


def _policy():
    torch.manual_seed(0)
    policy = make_policy("diffusion", action_dim=2, feature_dims={STATE_KEY: 2, ENV_KEY: 16}, down_dims=(16, 32),
                         n_groups=4, step_embed_dim=16, num_inference_steps=2, horizon=8, n_action_steps=4)
    span = lambda d: {"min": np.zeros(d, np.float32), "max": np.full(d, 512.0, np.float32),  # noqa: E731
                      "mean": np.full(d, 256.0, np.float32), "std": np.full(d, 128.0, np.float32)}
    policy.set_stats({STATE_KEY: span(2), ENV_KEY: span(16), "action": span(2)})
    return policy.eval()


def _world_model() -> EnsembleWorldModel:
    torch.manual_seed(0)
    wm = EnsembleWorldModel(EnsembleConfig(members=2, hidden=16, layers=1))
    scenes = torch.tensor(np.stack([PushTTask.initial_scene(i) for i in range(16)]), dtype=torch.float32)
    hist = scenes[:, None].expand(-1, 2, -1)
    acts = hist[..., :2] + 5.0
    wm.set_normalization(wm.codec.inputs(hist, acts, acts[:, -1]), torch.randn(16, 5) * 0.3)
    return wm.eval()


def corrections(root: Path) -> None:
    """Two corrected branches of one session, exported the way the studio and the campaign do."""
    wm = _world_model()
    obs = PushTTask.observe(PushTTask.initial_scene(20000))
    s = Session.start(_policy(), wm, obs, SessionConfig(max_steps=60, seed=1))
    s.resume()
    for _ in range(6):
        s.step()
    for k in range(2):
        s.roll_back(2 + k)
        s.branch()
        s.take_over()
        for i in range(4):
            s.act([250.0 + 10 * i, 250.0 - 5 * k])
        s.hand_back()
        for _ in range(4):
            s.step()
    export_branches(s.tree, exportable_branches(s.tree), root, PushTTask.spec_, wm.checkpoint_id(), "s1")


def interrupt_at_the_commit(root: Path, episode: dict, task: str, monkeypatch) -> None:
    """Append ``episode`` to ``root`` but die where the episodes meta (the commit point) would be written: the
    data file then holds the episode's rows, uncommitted, as after a process killed at that moment."""
    import hiwm.data.lerobot as lerobot

    real = lerobot.write_parquet

    def die_at_the_commit(path, *a, **kw):
        if path.parent.parent.name == "episodes":
            raise KeyboardInterrupt
        return real(path, *a, **kw)

    with monkeypatch.context() as m:
        m.setattr(lerobot, "write_parquet", die_at_the_commit)
        with DatasetWriter.open(root) as w, pytest.raises(KeyboardInterrupt):
            w.add_episode(episode, task=task)


def make(kind: str, root: Path) -> Path:
    """Write a small dataset of ``kind`` (see KINDS) at ``root``; returns ``root``."""
    common = {"seed_start": 0, "progress": False}
    if kind == "expert":
        collect("pusht", "expert", 2, root, max_steps=300, **common)
    elif kind == "play":
        collect("pusht", "play", 2, root, max_steps=40, **common)
    elif kind == "policy":
        collect("pusht", "policy", 2, root, max_steps=40, policy=_policy(), policy_share=0.5, **common)
    elif kind == "images":
        collect("pusht", "play", 1, root, max_steps=12, images=True, **common)
    elif kind == "corrections":
        corrections(root)
    else:
        raise ValueError(kind)
    return root
