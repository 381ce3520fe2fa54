"""A dataset someone hands you: crafted path templates and wrongly typed metadata are refused in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_kinds import corrections

from hiwm.data import DatasetWriter, LeRobotDataset, standard_features
from hiwm.errors import DatasetError


def episode(T: int = 4) -> dict:
    return {"observation.state": np.zeros((T, 2), np.float32), "action": np.ones((T, 2), np.float32),
            "next.reward": np.zeros(T, np.float32), "next.success": np.zeros(T, bool), "source": "expert"}


def dataset(root: Path, episodes: int) -> Path:
    with DatasetWriter.create(root, 10, standard_features(2, 2)) as w:
        for _ in range(episodes):
            w.add_episode(episode(), task="t")
    return root


def edit_info(root: Path, **changes) -> None:
    path = root / "meta/info.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def files_under(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file()) if d.exists() else []


OUTSIDE_TEMPLATES = {
    "parent": "../outside/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
    "absolute": "{abs}/chunk-{chunk_index:03d}-{file_index:03d}.parquet",
    "built by a format spec": "..{chunk_index:/>2}/../outside/file-{file_index:03d}.parquet",  # chunk 0: "../0/.."
    "deeper parent": "data/../../outside/{chunk_index}/{file_index}.parquet",
}


@pytest.mark.parametrize("case", list(OUTSIDE_TEMPLATES))
def test_a_template_leading_outside_is_refused_on_read_and_on_write(tmp_path, case):
    outside = tmp_path / "outside"
    template = OUTSIDE_TEMPLATES[case].replace("{abs}", str(outside))
    for n in (0, 2):  # an empty dataset (the writer would create the file) and one with episodes (reader)
        root = dataset(tmp_path / f"ds{n}", n)
        edit_info(root, data_path=template)
        for load in (LeRobotDataset, DatasetWriter.open):
            with pytest.raises(DatasetError, match="points outside the dataset folder") as err:
                load(root)
            assert "\n" not in str(err.value) and "meta/info.json" in str(err.value)
    assert files_under(outside) == [], "nothing is written outside the dataset"


def test_a_corrections_export_into_a_crafted_dataset_writes_nothing_outside(tmp_path):
    root = tmp_path / "corrections"
    corrections(root)  # a real export, then its info.json is tampered with and the export runs again
    edit_info(root, data_path="../outside/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet")
    (root / "meta/episodes/chunk-000/file-000.parquet").unlink()  # as if empty, so the exporter appends
    with pytest.raises(DatasetError, match="points outside the dataset folder"):
        corrections(root)
    assert files_under(tmp_path / "outside") == []


def test_a_symlinked_data_folder_leading_outside_is_refused(tmp_path):
    root = dataset(tmp_path / "ds", 0)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "data")
    for load in (LeRobotDataset, DatasetWriter.open):
        with pytest.raises(DatasetError, match="points outside the dataset folder .* through a symlink"):
            load(root)
    assert files_under(tmp_path / "elsewhere") == []


@pytest.mark.parametrize("template, msg", [
    ("data/{chunk_index.__class__}/{file_index}.parquet", "may only use the fields"),
    ("data/{chunk_index[0]}/{file_index}.parquet", "may only use the fields"),
    ("data/{episode_index}.parquet", "may only use the fields"),
    ("data/{chunk_index}.parquet", "must use file_index"),
    ("data/{chunk_index:{file_index}}.parquet", "may only use the fields"),
    ("data/{chunk_index", "is not a valid template"),
    ("data/{chunk_index:s}/{file_index}.parquet", "is not a valid template"),
])
def test_a_malformed_template_is_one_line(tmp_path, template, msg):
    root = dataset(tmp_path / "ds", 1)
    edit_info(root, data_path=template)
    with pytest.raises(DatasetError, match=msg) as err:
        LeRobotDataset(root)
    assert "\n" not in str(err.value) and "'data_path'" in str(err.value)


def test_video_path_is_checked_too(tmp_path):
    root = dataset(tmp_path / "ds", 1)
    edit_info(root, video_path="../videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4")
    with pytest.raises(DatasetError, match="'video_path' .* points outside"):
        LeRobotDataset(root)
    edit_info(root, video_path="videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4")
    assert LeRobotDataset(root).num_episodes == 1  # LeRobot's own template is fine


BAD_INFO = {
    "total_episodes": "x", "total_frames": -1, "fps": True, "chunks_size": 0, "features": [], "data_path": 3,
    "codebase_version": 3.0, "max_episodes_per_file": "10", "data_files_size_in_mb": "big", "video_path": 5,
    "total_tasks": 1.5, "robot_type": ["arm"], "splits": "all",
}


@pytest.mark.parametrize("field", list(BAD_INFO))
def test_a_wrongly_typed_info_field_is_one_line_naming_file_and_field(tmp_path, field):
    root = dataset(tmp_path / "ds", 1)
    edit_info(root, **{field: BAD_INFO[field]})
    for load in (LeRobotDataset, DatasetWriter.open):
        with pytest.raises(DatasetError) as err:
            load(root)
        text = str(err.value)
        assert "\n" not in text and "meta/info.json" in text and f"'{field}'" in text, text


def _rewrite_column(path: Path, name: str, values: pa.Array) -> None:
    table = pq.read_table(path)
    pq.write_table(table.set_column(table.schema.get_field_index(name), name, values), path)


@pytest.mark.parametrize("column, values", [
    ("length", pa.array(["4", "4"])), ("dataset_to_index", pa.array([4, None], pa.int64())),
    ("tasks", pa.array(["t", "t"])), ("data/file_index", pa.array([0.0, 0.0])),
])
def test_wrongly_typed_episodes_meta_is_one_line(tmp_path, column, values):
    root = dataset(tmp_path / "ds", 2)
    path = root / "meta/episodes/chunk-000/file-000.parquet"
    _rewrite_column(path, column, values)
    with pytest.raises(DatasetError, match=f"column '{column}'") as err:
        LeRobotDataset(root)
    assert "\n" not in str(err.value) and "file-000.parquet" in str(err.value)


@pytest.mark.parametrize("column, values, msg", [
    ("task_index", pa.array(["0"]), "must hold integers"), ("task", pa.array([7]), "must hold the task strings"),
])
def test_wrongly_typed_tasks_are_one_line(tmp_path, column, values, msg):
    root = dataset(tmp_path / "ds", 1)
    _rewrite_column(root / "meta/tasks.parquet", column, values)
    with pytest.raises(DatasetError, match=msg) as err:
        LeRobotDataset(root)
    assert "tasks.parquet" in str(err.value)


@pytest.mark.parametrize("key, value", [("mean", [float("nan"), 0.0]), ("std", [1.0, float("inf")]),
                                        ("std", [-1.0, 1.0])])
def test_stats_that_would_poison_normalisation_are_refused(tmp_path, key, value):
    root = dataset(tmp_path / "ds", 1)
    path = root / "meta/stats.json"
    stats = json.loads(path.read_text())
    stats["action"][key] = value
    path.write_text(json.dumps(stats))  # json writes NaN / Infinity, and Python's json reads them back
    with pytest.raises(DatasetError, match="stats of 'action' are not finite") as err:
        LeRobotDataset(root)
    assert "meta/stats.json" in str(err.value)
