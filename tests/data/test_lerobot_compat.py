"""hiwm's datasets read back in LeRobot's own way: an independent v3.0 reader (pandas + pyarrow) gets every
frame, its task instruction and its delta-timestamp windows; lerobot-doctor finds no failure in any kind."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_kinds import KINDS, interrupt_at_the_commit, make
from lerobot_reference import TOLERANCE_S, ReferenceDataset

from hiwm.data import DatasetWriter, EpisodeWindows, LeRobotDataset
from hiwm.tasks.base import STATE_KEY
from hiwm.tasks.pusht import PushTTask

HORIZON = 8


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("kinds")
    return {kind: make(kind, base / kind) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_reference_reader_gets_every_frame_its_task_and_its_windows(datasets, kind):
    ds = LeRobotDataset(datasets[kind])
    fps = ds.fps
    deltas = {STATE_KEY: [-1 / fps, 0.0], "action": [i / fps for i in range(HORIZON)]}
    ref = ReferenceDataset(ds.root, delta_timestamps=deltas)
    assert len(ref) == len(ref.data) == ds.num_frames > 0
    assert ref.tasks.index.name == "task" and list(ref.tasks["task_index"]) == list(range(len(ds.tasks)))
    windows = EpisodeWindows(ds, obs_keys=[STATE_KEY], n_obs_steps=2, horizon=HORIZON)
    for e in range(ds.num_episodes):
        ep, row = ds.episode(e), ds.episodes[e]
        for t in range(row["length"]):
            idx = row["dataset_from_index"] + t
            item = ref[idx]
            assert item["task"] == row["tasks"][0] == PushTTask.spec_.description, (idx, item["task"])
            for key in ds.features:
                if key not in deltas:
                    np.testing.assert_array_equal(item[key], ep[key][t], err_msg=f"{key} at frame {idx}")
            # LeRobot's delta_timestamps window is hiwm's training window, frame for frame
            want = windows.windows(np.array([idx]))
            np.testing.assert_array_equal(item[STATE_KEY], want[STATE_KEY][0].numpy())
            np.testing.assert_array_equal(item["action"], want["action"][0].numpy())
            np.testing.assert_array_equal(item["action_is_pad"], want["action_is_pad"][0].numpy())
            assert not item[f"{STATE_KEY}_is_pad"][1]
            for key, d in deltas.items():
                real = ~item[f"{key}_is_pad"]
                np.testing.assert_allclose(item[f"{key}_timestamps"][real], item["timestamp"] + np.array(d)[real],
                                           atol=TOLERANCE_S)


def _rewrite_tasks(path, table_or_frame) -> None:
    if isinstance(table_or_frame, pd.DataFrame):
        table_or_frame.to_parquet(path)
    else:
        pq.write_table(table_or_frame, path)


@pytest.mark.parametrize("layout", ["lerobot named index", "lerobot unnamed index", "hiwm before v3 tasks"])
def test_hiwm_reads_every_tasks_layout(tmp_path, layout):
    root = make("play", tmp_path / "ds")
    tasks = LeRobotDataset(root).tasks
    assert tasks == [PushTTask.spec_.description]
    path = root / "meta/tasks.parquet"
    if layout == "lerobot named index":  # LeRobot's LeRobotDatasetMetadata.save_episode_tasks
        new = pd.DataFrame({"task_index": range(len(tasks))}, index=pd.Index(tasks, name="task"))
    elif layout == "lerobot unnamed index":  # LeRobot's v2.1 -> v3.0 converter: the index is "__index_level_0__"
        new = pd.DataFrame({"task_index": range(len(tasks))}, index=tasks)
    else:  # what hiwm wrote before: plain columns, no pandas metadata
        new = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks)})
    _rewrite_tasks(path, new)
    assert LeRobotDataset(root).tasks == tasks


# lerobot-doctor's checks of the format itself; the others (constant provenance columns, short episodes,
# no camera for a VLA) warn about properties of small test data, which are honest.
STRUCTURAL = ("Metadata & Format Compliance", "Temporal Consistency", "Feature Consistency", "Portability",
              "Video Integrity")


def _doctor(root) -> dict:
    from lerobot_doctor.dataset_loader import load_dataset
    from lerobot_doctor.runner import run_checks

    report = run_checks(load_dataset(str(root)))
    return {r.name: r for r in report.results}


@pytest.mark.parametrize("kind", KINDS)
def test_lerobot_doctor_finds_no_failure(datasets, kind):
    results = _doctor(datasets[kind])
    fails = [f"{name}: {m.message}" for name, r in results.items() for m in r.messages if m.severity.value == "FAIL"]
    assert not fails, fails
    for name in STRUCTURAL:
        assert results[name].severity.value == "PASS", [m.message for m in results[name].messages]


def test_lerobot_doctor_does_fail_a_broken_dataset(tmp_path):
    root = make("play", tmp_path / "ds")
    info = json.loads((root / "meta/info.json").read_text())
    (root / "meta/info.json").write_text(json.dumps({**info, "total_frames": info["total_frames"] + 1}))
    assert _doctor(root)["Metadata & Format Compliance"].severity.value == "FAIL"


def test_a_resumed_crash_leaves_no_stray_rows_for_lerobot_readers(tmp_path, monkeypatch):
    root = make("play", tmp_path / "ds")
    interrupt_at_the_commit(root, LeRobotDataset(root).episode(0), PushTTask.spec_.description, monkeypatch)
    ref = ReferenceDataset(root)
    assert len(ref.data) > len(ref)  # a reader of every data row sees the uncommitted episode's rows
    DatasetWriter.open(root).close()  # resuming drops them
    ref = ReferenceDataset(root)
    assert len(ref.data) == len(ref) == LeRobotDataset(root).num_frames
    np.testing.assert_array_equal(LeRobotDataset(root).column("action"), np.stack(ref.data["action"]))
    assert not [m for r in _doctor(root).values() for m in r.messages if m.severity.value == "FAIL"]
