"""Policy play: the policy and play take turns, every frame says who acted, and the episode is written whole."""

import numpy as np
import pytest

from hiwm.data.collect import collect
from hiwm.errors import HiwmError


def test_policy_play_mixes_policy_and_play_and_tags_each_frame(tmp_path, policy):
    ds = collect("pusht", "policy", 2, tmp_path / "pp", seed_start=10500, progress=False, max_steps=120,
                 policy=policy, policy_share=0.5)
    assert ds.num_episodes == 2 and len(ds) == 240  # run to the step limit, never cut short on success
    sources = ds.column("source")
    assert set(sources) == {"policy", "play"}
    assert np.all(np.isfinite(ds.column("action")))
    again = collect("pusht", "policy", 2, tmp_path / "again", seed_start=10500, progress=False, max_steps=120,
                    policy=policy, policy_share=0.5)
    assert list(again.column("source")) == list(sources), "the same seeds switch at the same steps"


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_policy_share_at_its_ends_gives_one_source(tmp_path, policy, share):
    ds = collect("pusht", "policy", 1, tmp_path / "pp", seed_start=10500, progress=False, max_steps=80,
                 policy=policy, policy_share=share)
    assert set(ds.column("source")) == {"policy" if share == 1.0 else "play"}


def test_policy_mode_needs_a_policy_and_no_other_mode_takes_one(tmp_path, policy):
    with pytest.raises(HiwmError, match="needs a policy"):
        collect("pusht", "policy", 1, tmp_path / "a", seed_start=10500, progress=False)
    with pytest.raises(HiwmError, match="needs a policy"):
        collect("pusht", "play", 1, tmp_path / "b", seed_start=10500, progress=False, policy=policy)
    with pytest.raises(HiwmError, match="policy_share"):
        collect("pusht", "policy", 1, tmp_path / "c", seed_start=10500, progress=False, policy=policy, policy_share=1.5)
    assert not any((tmp_path / d).exists() for d in "abc")


def test_hiwm_collect_policy_mode_from_the_command_line(tmp_path, policy, capsys):
    from hiwm.cli import main

    policy.save(tmp_path / "ckpt")
    argv = ["collect", "--kind", "policy", "--data.policy_play_episodes", "1", "--data.episode_steps", "50",
            "--out", str(tmp_path / "pp"), "--policy", str(tmp_path / "ckpt"), "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    assert main(["collect", "--kind", "policy", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "needs the base policy" in capsys.readouterr().err


def test_collect_policy_mode_renders_frames_for_an_image_policy(tmp_path, image_policy, capsys):
    from hiwm.cli import main

    image_policy.save(tmp_path / "ckpt")
    argv = ["collect", "--kind", "policy", "--data.policy_play_episodes", "1", "--data.episode_steps", "50",
            "--out", str(tmp_path / "pp"), "--policy", str(tmp_path / "ckpt"), "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
