"""Camera frames rendered from low-dim observations: identical to the simulator's, windowed as uint8."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hiwm.data import DatasetWriter, EpisodeWindows, LeRobotDataset, standard_features
from hiwm.data.collect import record_episode
from hiwm.data.images import render_frames, with_images
from hiwm.errors import HiwmError
from hiwm.tasks import make_expert, make_task
from hiwm.tasks.base import ENV_KEY, IMAGE_KEY, STATE_KEY
from hiwm.tasks.pusht import PushTTask


@pytest.fixture(scope="module")
def episode() -> dict:
    """12 expert steps of Push-T recorded with the simulator's own camera."""
    expert = make_expert("pusht", seed=3)
    frames, _ = record_episode(make_task("pusht", images=True), lambda o, s: expert.act(o), 3, 12, images=True,
                               stop_on_success=False)
    return frames


def test_rendered_frames_equal_the_simulator_camera(episode):
    rendered = render_frames(PushTTask, episode[STATE_KEY], episode[ENV_KEY])
    assert rendered.dtype == np.uint8 and rendered.shape == episode[IMAGE_KEY].shape
    np.testing.assert_array_equal(rendered, episode[IMAGE_KEY])


def test_sources_without_images_get_them_and_window_as_uint8(episode, tmp_path):
    lowdim = {k: v for k, v in episode.items() if k != IMAGE_KEY}
    with DatasetWriter.create(tmp_path / "ds", fps=10, features=standard_features(2, 2, env_dim=16)) as w:
        w.add_episode({**lowdim, "source": np.full(len(lowdim["action"]), "expert", dtype=object)}, task="t")
    ds = LeRobotDataset(tmp_path / "ds")
    with_img = dict(episode)
    out = with_images([ds, lowdim, with_img], PushTTask)
    assert out[2] is with_img  # already has images: passed through untouched
    assert IMAGE_KEY not in lowdim  # the caller's episode dict is not modified
    for src in out[:2]:
        np.testing.assert_array_equal(src[IMAGE_KEY], episode[IMAGE_KEY])
    w = EpisodeWindows(out, [STATE_KEY, IMAGE_KEY], n_obs_steps=2, horizon=4)
    b = w.sample(5, torch.Generator().manual_seed(0))
    assert b[IMAGE_KEY].dtype == torch.uint8 and b[IMAGE_KEY].shape == (5, 2, 96, 96, 3)


def test_rendering_needs_the_lowdim_state():
    with pytest.raises(HiwmError, match="cannot render"):
        with_images([{"action": np.zeros((3, 2), np.float32)}], PushTTask)
