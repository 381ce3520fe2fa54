"""Data files are verified against the sha256 recorded when they were committed: a silently changed
value is a one-line error, not training data; datasets from before checksums still load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from dataset_kinds import interrupt_at_the_commit

from hiwm.data import DatasetWriter, LeRobotDataset, standard_features
from hiwm.errors import DatasetError

DATA = "data/chunk-000/file-000.parquet"
MARK = np.float32(1234.5677)  # a value whose bytes are easy to find in the file


def episode(seed: int, T: int = 6) -> dict:
    rng = np.random.default_rng(seed)
    action = rng.uniform(0, 512, (T, 2)).astype(np.float32)
    action[2, 1] = MARK
    return {"observation.state": rng.normal(size=(T, 2)).astype(np.float32), "action": action,
            "next.reward": np.zeros(T, np.float32), "next.success": np.zeros(T, bool), "source": "expert"}


def dataset(root: Path, episodes: int, **kw) -> Path:
    with DatasetWriter.create(root, 10, standard_features(2, 2), **kw) as w:
        for s in range(episodes):
            w.add_episode(episode(s), task="t")
    return root


def flip_the_mark(path: Path) -> None:
    """Change one bit of MARK in the file: still valid parquet, one action now silently different."""
    raw = bytearray(path.read_bytes())
    at = raw.find(MARK.tobytes())
    assert at >= 0, "the marked value is stored as is"
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))


def drop_checksums(root: Path) -> None:
    """Make ``root`` look written before data checksums existed."""
    path = root / "meta/episodes/chunk-000/file-000.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["data/sha256"]), path)
    (root / "meta/.pending_data.json").unlink()


def test_a_flipped_bit_is_caught_on_every_read_path(tmp_path):
    root = dataset(tmp_path / "ds", 2)
    flip_the_mark(root / DATA)
    # the change is silent to parquet itself: the file still reads, one value differs
    assert pq.read_table(root / DATA).num_rows == 12
    reads = (lambda ds: ds.episode(0), lambda ds: ds.column("action"), lambda ds: ds.episode(1, decode_images=False))
    for read in reads:
        with pytest.raises(DatasetError, match="checksum mismatch") as err:
            read(LeRobotDataset(root))
        assert "\n" not in str(err.value) and DATA in str(err.value)
    with pytest.raises(DatasetError, match="checksum mismatch"):  # nor is it appended to (and so re-hashed)
        DatasetWriter.open(root)


def test_a_file_changed_after_it_was_verified_is_verified_again(tmp_path):
    root = dataset(tmp_path / "ds", 1)
    ds = LeRobotDataset(root)
    np.testing.assert_array_equal(ds.column("action"), episode(0)["action"])
    flip_the_mark(root / DATA)
    with pytest.raises(DatasetError, match="checksum mismatch"):
        ds.column("action")


def test_checksums_are_recorded_per_episode(tmp_path):
    root = dataset(tmp_path / "ds", 3)
    rows = LeRobotDataset(root).episodes
    sums = [r["data/sha256"] for r in rows]
    assert all(isinstance(s, str) and len(s) == 64 for s in sums) and len(set(sums)) == 3  # the file grew each time
    assert hashlib.sha256((root / DATA).read_bytes()).hexdigest() == sums[-1]
    assert json.loads((root / "meta/.pending_data.json").read_text())["sha256"] == sums[-1]


def test_a_dataset_from_before_checksums_loads_and_gains_them_on_append(tmp_path):
    root = dataset(tmp_path / "ds", 2)
    drop_checksums(root)
    ds = LeRobotDataset(root)
    np.testing.assert_array_equal(ds.episode(1)["action"], episode(1)["action"])
    assert "data/sha256" not in ds.episodes[0]
    with DatasetWriter.open(root) as w:
        w.add_episode(episode(2), task="t")
    rows = LeRobotDataset(root).episodes
    assert [r.get("data/sha256") is None for r in rows] == [True, True, False]
    flip_the_mark(root / DATA)  # the rewritten file is now covered
    with pytest.raises(DatasetError, match="checksum mismatch"):
        LeRobotDataset(root).episode(0)


def test_readers_keep_reading_while_a_writer_appends_to_the_same_file(tmp_path):
    root = dataset(tmp_path / "ds", 1, max_episodes_per_file=2)
    readers = [LeRobotDataset(root)]  # each reader holds the episodes meta as it was when it opened
    with DatasetWriter.open(root) as w:
        for s in (1, 2, 3):  # episode 1 replaces file 0 under the first reader; 2 and 3 go to file 1
            w.add_episode(episode(s), task="t")
            readers.append(LeRobotDataset(root))
    # the first reader meets a file 0 newer than its meta, which the pending record (now naming file 1)
    # no longer vouches for: the checksums committed since do
    for n, reader in enumerate(readers, start=1):
        want = np.concatenate([episode(i)["action"] for i in range(n)])
        np.testing.assert_array_equal(reader.column("action"), want)


def test_an_interrupted_write_is_read_up_to_its_last_complete_episode(tmp_path, monkeypatch):
    root = dataset(tmp_path / "ds", 2)
    interrupt_at_the_commit(root, episode(2), "t", monkeypatch)
    assert pq.read_metadata(root / DATA).num_rows == 18  # three episodes on disk, two committed
    ds = LeRobotDataset(root)
    assert ds.num_episodes == 2
    np.testing.assert_array_equal(ds.episode(1)["action"], episode(1)["action"])
    (root / "meta/.pending_data.json").unlink()  # without the pending record the newer file is refused
    with pytest.raises(DatasetError, match="checksum mismatch"):
        LeRobotDataset(root).episode(1)


@pytest.mark.parametrize("checksums", [True, False])
def test_resuming_an_interrupted_write_drops_its_rows_and_keeps_the_file_verified(tmp_path, monkeypatch, checksums):
    root = dataset(tmp_path / "ds", 2)
    if not checksums:
        drop_checksums(root)
    interrupt_at_the_commit(root, episode(2), "t", monkeypatch)
    DatasetWriter.open(root).close()
    assert pq.read_metadata(root / DATA).num_rows == 12
    ds = LeRobotDataset(root)
    np.testing.assert_array_equal(ds.column("action"), np.concatenate([episode(0)["action"], episode(1)["action"]]))
    if checksums:
        assert ds.episodes[-1]["data/sha256"] == hashlib.sha256((root / DATA).read_bytes()).hexdigest()
    with DatasetWriter.open(root) as w:
        w.add_episode(episode(2), task="t")
    np.testing.assert_array_equal(LeRobotDataset(root).episode(2)["action"], episode(2)["action"])
