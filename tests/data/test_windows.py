"""Training windows: history/chunk padding, intervention masks, sources, mixing, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hiwm.data import DatasetWriter, EpisodeWindows, LeRobotDataset, WindowMixture, standard_features
from hiwm.errors import HiwmError

STATE = "observation.state"


def episodes(lengths, start=0, masks=None) -> list[dict]:
    """Episodes whose state and action encode the global frame index, so windows can be checked exactly."""
    out, n = [], start
    for j, T in enumerate(lengths):
        idx = np.arange(n, n + T, dtype=np.float32)
        ep = {STATE: np.stack([idx, idx + 0.5], 1), "action": np.stack([idx, -idx], 1), "next.reward": idx * 2}
        if masks is not None:
            ep["intervention"] = np.asarray(masks[j], dtype=bool)
        out.append(ep)
        n += T
    return out


def reference(eps: list[dict], t: int, n_obs: int, horizon: int, mask_key: str | None = None):
    """Window at global frame t, the slow and obvious way."""
    bounds = np.cumsum([0] + [len(e["action"]) for e in eps])
    e = int(np.searchsorted(bounds, t, side="right") - 1)
    ep, local = eps[e], t - bounds[e]
    T = len(ep["action"])
    obs = np.stack([ep[STATE][max(local - k, 0)] for k in range(n_obs - 1, -1, -1)])
    act = np.stack([ep["action"][min(local + k, T - 1)] for k in range(horizon)])
    pad = np.array([local + k >= T or (mask_key is not None and not ep[mask_key][local + k]) for k in range(horizon)])
    return obs, act, pad


def test_windows_pad_history_and_chunk_at_episode_edges():
    eps = episodes([5, 1, 4])
    w = EpisodeWindows(eps, [STATE, "next.reward"], n_obs_steps=3, horizon=4)
    assert (len(w), w.num_episodes, w.action_dim, w.obs_shapes) == (10, 3, 2, {STATE: (2,), "next.reward": (1,)})
    b = w.windows(np.arange(10))
    assert b[STATE].shape == (10, 3, 2) and b["next.reward"].shape == (10, 3, 1)
    assert b["action"].shape == (10, 4, 2) and b["action_is_pad"].shape == (10, 4)
    assert b[STATE].dtype == torch.float32 and b["action"].dtype == torch.float32 and b["action_is_pad"].dtype == torch.bool
    for t in range(10):
        obs, act, pad = reference(eps, t, 3, 4)
        np.testing.assert_array_equal(b[STATE][t].numpy(), obs)
        np.testing.assert_array_equal(b["action"][t].numpy(), act)
        np.testing.assert_array_equal(b["action_is_pad"][t].numpy(), pad)
    # spelled out once: start of episode 0, its last frame, and the one-frame episode
    assert b[STATE][0, :, 0].tolist() == [0, 0, 0] and b[STATE][1, :, 0].tolist() == [0, 0, 1]
    assert b["action"][4, :, 0].tolist() == [4, 4, 4, 4] and b["action_is_pad"][4].tolist() == [False, True, True, True]
    assert b[STATE][5, :, 0].tolist() == [5, 5, 5] and b["action_is_pad"][5].tolist() == [False, True, True, True]


def test_mask_limits_starts_and_pads_unmasked_actions():
    masks = [[0, 1, 1, 0, 1, 1], [1, 0, 0]]
    eps = episodes([6, 3], masks=masks)
    w = EpisodeWindows(eps, [STATE], n_obs_steps=2, horizon=3, mask_key="intervention")
    allowed = np.flatnonzero(np.concatenate(masks))
    assert len(w) == len(allowed)
    for t in allowed:
        obs, act, pad = reference(eps, t, 2, 3, "intervention")
        b = w.windows(np.array([t]))
        np.testing.assert_array_equal(b[STATE][0].numpy(), obs)  # history ignores the mask
        np.testing.assert_array_equal(b["action"][0].numpy(), act)
        np.testing.assert_array_equal(b["action_is_pad"][0].numpy(), pad)
    assert w.windows(np.array([2]))["action_is_pad"][0].tolist() == [False, True, False]
    starts = w.sample(2000, torch.Generator().manual_seed(0))[STATE][:, -1, 0].numpy()
    assert set(starts.astype(int)) == set(allowed)


def test_dataset_sources_match_in_memory_episodes(tmp_path):
    eps = episodes([4, 7, 3])
    img = np.random.default_rng(0).integers(0, 256, (14, 6, 6, 3), dtype=np.uint8)
    feats = standard_features(2, 2, image_size=6, provenance=False)
    roots = [tmp_path / "a", tmp_path / "b"]
    for root, part in zip(roots, ([0, 1], [2])):
        with DatasetWriter.create(root, 10, feats) as wr:
            for i in part:
                T, lo = len(eps[i]["action"]), sum(len(e["action"]) for e in eps[:i])
                wr.add_episode({**eps[i], "observation.image": img[lo:lo + T], "next.success": False}, task="t")
    datasets = [LeRobotDataset(r) for r in roots]
    from_disk = EpisodeWindows(datasets, [STATE, "observation.image"], n_obs_steps=2, horizon=5)
    in_memory = EpisodeWindows(eps, [STATE], n_obs_steps=2, horizon=5)
    a = from_disk.sample(64, torch.Generator().manual_seed(3))
    b = in_memory.sample(64, torch.Generator().manual_seed(3))
    for k in (STATE, "action", "action_is_pad"):
        assert torch.equal(a[k], b[k]), k
    assert a["observation.image"].dtype == torch.uint8 and a["observation.image"].shape == (64, 2, 6, 6, 3)
    frame = a[STATE][:, :, 0].long().numpy()  # global index of every history frame
    np.testing.assert_array_equal(a["observation.image"].numpy(), img[frame])


def test_sampling_is_deterministic_under_a_generator():
    w = EpisodeWindows(episodes([20, 30, 10]), [STATE], n_obs_steps=2, horizon=8)
    a, b = (w.sample(128, torch.Generator().manual_seed(7)) for _ in range(2))
    c = w.sample(128, torch.Generator().manual_seed(8))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a[STATE], c[STATE])


def test_mixture_follows_weights_and_is_deterministic():
    base = EpisodeWindows(episodes([50, 50]), [STATE], n_obs_steps=2, horizon=4)
    corr = EpisodeWindows(episodes([20], start=1000), [STATE], n_obs_steps=2, horizon=4)
    mix = WindowMixture([base, corr], [3.0, 1.0])
    b = mix.sample(4000, torch.Generator().manual_seed(0))
    assert b[STATE].shape == (4000, 2, 2) and b["action"].shape == (4000, 4, 2)
    frac_corr = (b[STATE][:, -1, 0] >= 1000).float().mean().item()
    assert abs(frac_corr - 0.25) < 0.03
    again = mix.sample(4000, torch.Generator().manual_seed(0))
    assert all(torch.equal(b[k], again[k]) for k in b)
    only_base = WindowMixture([base, corr], [1.0, 0.0]).sample(500, torch.Generator().manual_seed(1))
    assert (only_base[STATE][:, -1, 0] < 1000).all()


def test_bad_inputs_raise_hiwm_errors():
    eps = episodes([5])
    with pytest.raises(HiwmError, match="no frame has 'intervention' True"):
        EpisodeWindows(episodes([5], masks=[[0] * 5]), [STATE], mask_key="intervention")
    with pytest.raises(HiwmError, match="no columns"):
        EpisodeWindows(eps, ["observation.image"])
    with pytest.raises(HiwmError, match="n_obs_steps"):
        EpisodeWindows(eps, [STATE], n_obs_steps=0)
    with pytest.raises(HiwmError, match="same obs keys"):
        WindowMixture([EpisodeWindows(eps, [STATE], horizon=4), EpisodeWindows(eps, [STATE], horizon=8)], [1, 1])
    with pytest.raises(HiwmError, match="non-negative"):
        WindowMixture([EpisodeWindows(eps, [STATE])], [-1])
