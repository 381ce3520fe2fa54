"""Loading and checking a dataset's metadata: shared by the reader and by ``DatasetWriter.open``.

The episodes meta is the commit record. A writer writes, in order: the data file, the tasks table,
the episodes meta, then stats.json and info.json. So after a crash

* a data file may hold rows past its last committed episode (ignored: each file is read only up to
  the rows its committed episodes cover), and the tasks table may hold a task nobody uses yet;
* info.json / stats.json may lag the episodes meta by one episode: totals are then taken from the
  episodes meta and stats are rebuilt from the per-episode stats stored there (no frames reread).

Anything else inconsistent is corruption and raises a one-line DatasetError naming the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from hiwm.data import stats as st
from hiwm.data._files import first_line, parquet_num_rows, read_json, read_parquet
from hiwm.data._info import INFO_PATH, check_info, template_path
from hiwm.data._tasks import load_tasks
from hiwm.data.features import Feature, parse_features
from hiwm.errors import DatasetError

log = logging.getLogger(__name__)

STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
LOCK_PATH = "meta/.writer.lock"

EPISODE_COLUMNS: dict[str, pa.DataType] = {
    "episode_index": pa.int64(),
    "length": pa.int64(),
    "dataset_from_index": pa.int64(),
    "dataset_to_index": pa.int64(),
    "data/chunk_index": pa.int64(),
    "data/file_index": pa.int64(),
    "tasks": pa.list_(pa.string()),
}
# The sha256 of the episode's data file as committed with it (see _checksum); absent in older datasets.
CHECKSUM_COLUMN = "data/sha256"


@dataclass
class DatasetMeta:
    root: Path
    info: dict
    features: dict[str, Feature]
    tasks: list[str]
    table: pa.Table  # the episodes meta as stored, including the per-episode "stats/..." columns
    rows: list[dict]  # one per committed episode, without the stats columns
    offsets: list[int]  # row offset of each episode inside its data file
    file_rows: dict[tuple[int, int], int]  # committed rows per (chunk, file)
    file_start: dict[tuple[int, int], int] = field(default_factory=dict)  # global index of each file's row 0
    stats: dict[str, st.Stats] = field(default_factory=dict)
    stale: bool = False  # info.json / stats.json lag the episodes meta (interrupted write)
    file_sha256: dict[tuple[int, int], str | None] = field(default_factory=dict)  # as of its last committed episode

    @property
    def num_frames(self) -> int:
        return self.rows[-1]["dataset_to_index"] if self.rows else 0

    def data_path(self, chunk: int, file: int) -> Path:
        """The data file (chunk, file); a template that leads outside the dataset is refused (see _info)."""
        return template_path(self.root, self.info, "data_path", chunk_index=chunk, file_index=file)


def episodes_table(row: dict | None = None) -> pa.Table:
    """One episode row -> a one-row episodes-meta table (no row: the empty table of the base columns)."""
    if row is None:
        return pa.table({k: pa.array([], t) for k, t in EPISODE_COLUMNS.items()})
    arrays = []
    for k, v in row.items():
        typ = EPISODE_COLUMNS.get(k) or (pa.list_(pa.float64()) if k.startswith("stats/") else None)
        typ = pa.string() if k == CHECKSUM_COLUMN else typ
        arrays.append(pa.array([v], type=typ))
    return pa.Table.from_arrays(arrays, names=list(row))


def append_episode(table: pa.Table, row: dict) -> pa.Table:
    """The episodes meta with one more row. Keys new to this episode are null for earlier ones; a
    value whose type does not match earlier episodes' (beyond int -> float) is an error."""
    try:
        # One chunk per column: writing a table of many tiny chunks costs time linear in their number.
        return pa.concat_tables([table, episodes_table(row)], promote_options="permissive").combine_chunks()
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise DatasetError(f"episode meta: {first_line(e)}") from None


def aggregate_stats(table: pa.Table, features: dict[str, Feature]) -> dict[str, st.Stats]:
    """Dataset stats as the merge of the per-episode stats in the episodes meta."""
    out: dict[str, st.Stats] = {}
    for name, feat in features.items():
        cols = [f"stats/{name}/{k}" for k in st.STAT_KEYS]
        if not st.has_stats(feat) or not all(c in table.column_names for c in cols):
            continue
        acc = None
        for row in table.select(cols).to_pylist():
            s = st.from_flat_columns(row, feat)
            if s is not None:
                acc = st.merge_stats(acc, s)
        if acc is not None:
            out[name] = acc
    return out


def load_meta(root: Path) -> DatasetMeta:
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    if not (root / INFO_PATH).is_file():
        raise DatasetError(f"{root}: not a LeRobot dataset (no {INFO_PATH})")
    info = check_info(root, read_json(root / INFO_PATH))
    try:
        features = parse_features(info["features"])
    except DatasetError as e:
        raise DatasetError(f"{root / INFO_PATH}: {e}") from None
    # Read in the reverse of the writer's order (info, episodes, then tasks, data, stats), so that a
    # reader racing a live writer still sees every file at least as new as the episodes it reads.
    ep_path = root / EPISODES_PATH
    table = read_parquet(ep_path, required=tuple(EPISODE_COLUMNS))
    _check_episode_types(table, ep_path)
    rows = table.select([c for c in table.column_names if not c.startswith("stats/")]).to_pylist()
    tasks = load_tasks(root / TASKS_PATH)
    meta = DatasetMeta(root, info, features, tasks, table, rows, [], {})
    _check_episodes(meta, ep_path)
    if info["total_episodes"] > len(rows):
        raise DatasetError(f"{ep_path}: has {len(rows)} episodes but {INFO_PATH} says {info['total_episodes']}")
    meta.stale = info["total_episodes"] != len(rows) or info["total_frames"] != meta.num_frames
    if meta.stale:
        log.warning("%s: %s lags the episodes meta (interrupted write); using the episodes meta", root, INFO_PATH)
    for (chunk, file), n in meta.file_rows.items():
        path = meta.data_path(chunk, file)
        have = parquet_num_rows(path)
        if have < n:
            raise DatasetError(f"{path}: has {have} rows but the episodes meta needs {n}")
    meta.stats = _load_stats(meta)
    return meta


def _check_episode_types(table: pa.Table, path: Path) -> None:
    """The columns the reader computes with: integers without nulls, and a list of task strings."""
    for name, typ in EPISODE_COLUMNS.items():
        col = table.column(name)
        ok = pa.types.is_integer(col.type) if pa.types.is_integer(typ) else \
            (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)) and pa.types.is_string(col.type.value_type)
        if not ok:
            raise DatasetError(f"{path}: column '{name}' must be {typ}, got {col.type}")
        if col.null_count:
            raise DatasetError(f"{path}: column '{name}' has {col.null_count} missing values")
    typ = table.schema.field(CHECKSUM_COLUMN).type if CHECKSUM_COLUMN in table.column_names else pa.string()
    if not pa.types.is_string(typ):
        raise DatasetError(f"{path}: column '{CHECKSUM_COLUMN}' must be string, got {typ}")


def _check_episodes(meta: DatasetMeta, path: Path) -> None:
    """Episodes must be numbered 0.., contiguous in the global index, and packed in file order."""
    prev_to, prev_file, offset = 0, (0, 0), 0
    for i, row in enumerate(meta.rows):
        where = f"{path}: episode {i}"
        if row["episode_index"] != i:
            raise DatasetError(f"{where}: episode_index is {row['episode_index']}")
        if row["length"] is None or row["length"] < 1 or row["dataset_from_index"] != prev_to \
                or row["dataset_to_index"] - row["dataset_from_index"] != row["length"]:
            raise DatasetError(f"{where}: length/from/to indices are inconsistent")
        for task in row["tasks"] or []:
            if task not in meta.tasks:
                raise DatasetError(f"{where}: task {task!r} is not in {TASKS_PATH}")
        file = (row["data/chunk_index"], row["data/file_index"])
        if file < prev_file:
            raise DatasetError(f"{where}: data file {file} comes before the previous episode's {prev_file}")
        if file != prev_file or i == 0:
            offset = 0
            meta.file_start[file] = row["dataset_from_index"]
        meta.offsets.append(offset)
        offset += row["length"]
        meta.file_rows[file] = offset
        meta.file_sha256[file] = row.get(CHECKSUM_COLUMN)  # None: written before checksums (not verified)
        prev_to, prev_file = row["dataset_to_index"], file


def _load_stats(meta: DatasetMeta) -> dict[str, st.Stats]:
    path = meta.root / STATS_PATH
    data = read_json(path)
    try:
        stats = st.stats_from_json(data, meta.features)
    except (KeyError, ValueError, TypeError) as e:
        raise DatasetError(f"{path}: malformed stats ({type(e).__name__}: {first_line(e)})") from None
    if meta.stale or any(int(s["count"][0]) != meta.num_frames for s in stats.values()):
        # Interrupted write, or a live writer moved on since the episodes meta was read.
        path, stats = meta.root / EPISODES_PATH, aggregate_stats(meta.table, meta.features)
    for name, s in stats.items():  # normalisation divides by these: garbage here is garbage everywhere
        if not all(np.isfinite(v).all() for v in s.values()) or (s["std"] < 0).any():
            raise DatasetError(f"{path}: stats of '{name}' are not finite (or have a negative std)")
    return stats

