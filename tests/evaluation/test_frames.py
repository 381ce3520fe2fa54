"""Frame fidelity measures: PSNR and SSIM behave as the field defines them, and a pixel model's open-loop
fidelity is measured next to copy-the-last-frame."""

import numpy as np

from hiwm.evaluation.frames import frame_fidelity, psnr, ssim


def test_psnr_and_ssim_rank_a_small_error_above_a_large_one():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    small = np.clip(real.astype(int) + rng.integers(-3, 4, real.shape), 0, 255).astype(np.uint8)
    large = np.clip(real.astype(int) + rng.integers(-60, 61, real.shape), 0, 255).astype(np.uint8)
    assert (psnr(real, real) == 60).all() and np.allclose(ssim(real, real), 1.0)
    assert (psnr(small, real) > psnr(large, real)).all() and (ssim(small, real) > ssim(large, real)).all()
    assert 30 < psnr(small, real)[0] < 50


def test_frame_fidelity_of_a_pixel_model_next_to_copy_last(tmp_path):
    from hiwm.data.collect import collect
    from hiwm.evaluation.wm_accuracy import heldout_episodes
    from hiwm.training import TrainConfig
    from hiwm.world_models import PixelConfig, PixelWorldModel

    play = collect("pusht", "play", 2, tmp_path / "play", 100, progress=False, max_steps=12)
    cfg = PixelConfig(widths=(8, 8, 8), latent_channels=4, members=2, dynamics_width=8, dilations=(1,),
                      perception_width=4, rollout_steps=2, perception_labels=20)
    wm, _ = PixelWorldModel.fit(cfg, [play], TrainConfig(steps=4, batch_size=8, warmup_steps=1, ema_decay=None),
                                progress=False)
    episodes = [e for eps in heldout_episodes("pusht", 2, 15, 100_000).values() for e in eps]
    out = frame_fidelity(wm, episodes, horizons=(1, 5), starts_per_episode=2)
    real, pred = out.pop("strip")
    assert real.shape == pred.shape and real.shape[1:] == (96, 96, 3) and len(real) >= 2
    for H in (1, 5):
        assert out[H]["n"] > 0
        for who in ("model", "copy_last"):
            assert 0 < out[H][who]["psnr_median"] <= 60 and -1 <= out[H][who]["ssim_median"] <= 1
