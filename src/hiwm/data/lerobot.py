"""LeRobotDataset v3.0 writer and reader (pyarrow only).

Layout under ``root``::

    meta/info.json                          fps, features, totals, path templates
    meta/stats.json                         per numeric/image feature: mean, std, min, max, count
    meta/tasks.parquet                      task_index, task (the task string is the pandas index)
    meta/episodes/chunk-000/file-000.parquet one row per episode (+ per-episode meta, stats, data/sha256)
    meta/.pending_data.json                 checksum of the data file being written (see ``_checksum``)
    data/chunk-XXX/file-XXX.parquet         frames, many episodes per file

Crash safety: each ``add_episode`` rewrites the current data file and then the metadata, every file
through a temporary name and a rename, with the episodes meta as the commit point (see ``_meta``).
Each data file is verified against the checksum recorded with it when it is read (see ``_checksum``).
A process killed at any moment leaves a dataset readable up to its last complete episode, and
``DatasetWriter.open`` resumes it.

    with DatasetWriter.create(root, fps=10, features=standard_features(2, 2)) as w:
        w.add_episode({"observation.state": s, "action": a, ...}, task="push the T", meta={"success": True})
    ds = LeRobotDataset(root)
    ds.episode(0)["action"]  # (T, 2) float32
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from hiwm.data import stats as st
from hiwm.data._checksum import VerifiedFiles, sha256_hex, write_pending
from hiwm.data._files import first_line, parquet_bytes, remove_temp_files, write_bytes, write_json, write_parquet
from hiwm.data._info import CODEBASE_VERSION, INFO_PATH, check_info
from hiwm.data._meta import (CHECKSUM_COLUMN, DATA_PATH, EPISODE_COLUMNS, EPISODES_PATH, LOCK_PATH, STATS_PATH,
                             TASKS_PATH, DatasetMeta, append_episode, episodes_table, load_meta)
from hiwm.data._tasks import tasks_table
from hiwm.data.features import FRAME_DEFAULTS, SOURCES, WRITER_COLUMNS, parse_features
from hiwm.errors import DatasetError

log = logging.getLogger(__name__)

_RESERVED_META_PREFIXES = ("stats/", "data/", "meta/", "videos/")


class LeRobotDataset:
    """Read-only view of a dataset on disk. Metadata is checked on open; frames are read on demand."""

    def __init__(self, root: str | os.PathLike):
        self._meta = load_meta(Path(root))
        self._cache: tuple[tuple[int, int], pa.Table] | None = None  # the last data file read in full
        self._files = VerifiedFiles(self._meta)

    root = property(lambda self: self._meta.root)
    info = property(lambda self: self._meta.info)
    fps = property(lambda self: self._meta.info["fps"])
    robot_type = property(lambda self: self._meta.info.get("robot_type"))
    features = property(lambda self: dict(self._meta.features), doc="{name: Feature}, default columns included")
    tasks = property(lambda self: list(self._meta.tasks), doc="task strings, indexed by task_index")
    stats = property(lambda self: self._meta.stats, doc="{name: {mean, std, min, max, count}} as float64 arrays")
    num_episodes = property(lambda self: len(self._meta.rows))
    num_frames = property(lambda self: self._meta.num_frames)

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        return f"LeRobotDataset({str(self.root)!r}, episodes={self.num_episodes}, frames={self.num_frames}, fps={self.fps})"

    @property
    def episodes(self) -> list[dict]:
        """Per-episode meta: episode_index, length, dataset_from/to_index, data/*, tasks, user meta."""
        return [dict(row) for row in self._meta.rows]

    def episode(self, i: int, decode_images: bool = True) -> dict[str, np.ndarray]:
        """All columns of episode ``i``: (T,) scalars/strings, (T, *shape) vectors, (T, H, W, 3) uint8 images."""
        if not 0 <= i < self.num_episodes:
            raise IndexError(f"episode {i} out of range [0, {self.num_episodes})")
        row = self._meta.rows[i]
        file = (row["data/chunk_index"], row["data/file_index"])
        if self._cache is None or self._cache[0] != file:
            self._cache = (file, self._read_file(file, list(self._meta.features)))
        part = self._cache[1].slice(self._meta.offsets[i], row["length"])
        return self._convert(part, file, decode_images)

    def column(self, name: str, decode_images: bool = False) -> np.ndarray:
        """One feature over all frames in index order: (N,) or (N, *shape). Images stay PNG bytes
        (an object array) unless ``decode_images``, since decoding is the slow part."""
        if name not in self._meta.features:
            raise DatasetError(f"{self.root}: no feature '{name}' (have {', '.join(self._meta.features)})")
        feat = self._meta.features[name]
        parts = [self._convert(self._read_file(f, [name]), f, decode_images)[name] for f in self._meta.file_rows]
        if not parts:
            return feat.from_arrow(pa.array([], feat.arrow_type()), decode_images)
        return np.concatenate(parts)

    def _read_file(self, file: tuple[int, int], columns: list[str]) -> pa.Table:
        """The committed rows of one data file; checks that its ``index`` column is the expected range."""
        path = self._meta.data_path(*file)
        cols = columns if "index" in columns else [*columns, "index"]
        table = self._files.read(file, cols).slice(0, self._meta.file_rows[file])
        first = self._meta.file_start[file]
        index = table.column("index").to_numpy()
        if not np.array_equal(index, np.arange(first, first + len(index))):
            raise DatasetError(f"{path}: 'index' column does not match the episodes meta")
        return table

    def _convert(self, table: pa.Table, file: tuple[int, int], decode_images: bool) -> dict[str, np.ndarray]:
        out = {}
        for name in table.column_names:
            feat = self._meta.features.get(name)
            if feat is None:
                continue
            try:
                out[name] = feat.from_arrow(table.column(name), decode_images)
            except DatasetError as e:  # e.g. an undecodable PNG: say which file it is in
                raise DatasetError(f"{self._meta.data_path(*file)}: {e}") from None
            except (pa.ArrowException, AttributeError, TypeError, ValueError) as e:
                raise DatasetError(f"{self._meta.data_path(*file)}: column '{name}' does not match its "
                                   f"{feat.dtype} {feat.shape} feature ({first_line(e)})") from None
        return out


class DatasetWriter:
    """Appends episodes to a dataset; one writer per dataset at a time (an flock guards it).

    Use ``DatasetWriter.create`` for a new dataset and ``DatasetWriter.open`` to append to one.
    """

    def __init__(self, meta: DatasetMeta, lock_fd: int):
        self._m, self._lock_fd = meta, lock_fd
        info = meta.info
        self._limit = float(info.get("data_files_size_in_mb", 100.0)) * 1024**2
        self._max_eps = int(info.get("max_episodes_per_file", 1000))
        self._chunks_size = int(info["chunks_size"])
        self._schema = pa.schema([(n, f.arrow_type()) for n, f in meta.features.items()])
        # Dictionary encoding pays off for strings and integer ids (mostly constant within an episode)
        # and only costs time on floats and PNG bytes, which dominate the per-episode rewrite.
        self._dict_cols = [n for n, f in meta.features.items()
                           if f.is_string or (f.is_scalar and f.dtype not in ("float32", "float64"))]
        self._task_index = {t: i for i, t in enumerate(meta.tasks)}
        self._file = (0, 0)
        self._table: pa.Table | None = None  # committed rows of the current data file
        self._file_eps = 0
        self._uncommitted = 0
        if meta.rows:
            last = meta.rows[-1]
            self._file = (last["data/chunk_index"], last["data/file_index"])
            # verified: appending to a corrupt file would give the corruption a fresh, valid checksum
            full = VerifiedFiles(meta).read(self._file)
            self._table = full.slice(0, meta.file_rows[self._file])
            self._uncommitted = full.num_rows - self._table.num_rows  # rows of a write killed before its commit
            self._file_eps = sum(1 for r in meta.rows if (r["data/chunk_index"], r["data/file_index"]) == self._file)
        self._file_bytes = os.path.getsize(meta.data_path(*self._file)) if self._table is not None else 0

    # ---- construction ----
    @classmethod
    def create(cls, root: str | os.PathLike, fps: float, features: dict, robot_type: str = "sim", *,
               data_files_size_in_mb: float = 100.0, max_episodes_per_file: int = 1000,
               chunks_size: int = 1000) -> DatasetWriter:
        """A new, empty dataset at ``root`` (which must not exist or be empty)."""
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            hint = " (use DatasetWriter.open to append)" if (root / INFO_PATH).exists() else ""
            raise DatasetError(f"{root}: already exists and is not an empty directory{hint}")
        if not (isinstance(fps, (int, float)) and fps > 0):
            raise DatasetError(f"fps must be a positive number, got {fps!r}")
        if data_files_size_in_mb <= 0 or max_episodes_per_file < 1 or chunks_size < 1:
            raise DatasetError("data_files_size_in_mb, max_episodes_per_file and chunks_size must be positive")
        feats = parse_features(features)
        info = {"codebase_version": CODEBASE_VERSION, "robot_type": robot_type, "total_episodes": 0,
                "total_frames": 0, "total_tasks": 0, "chunks_size": chunks_size,
                "data_files_size_in_mb": data_files_size_in_mb, "max_episodes_per_file": max_episodes_per_file,
                "fps": fps, "splits": {"train": "0:0"}, "data_path": DATA_PATH, "video_path": None,
                "features": {n: f.to_json() for n, f in feats.items()}}
        check_info(root, info)  # the checks a reader applies, before anything is written
        (root / "meta").mkdir(parents=True, exist_ok=True)
        lock = _lock(root)
        write_parquet(root / TASKS_PATH, tasks_table([]))
        write_parquet(root / EPISODES_PATH, episodes_table())
        write_json(root / STATS_PATH, {})
        write_json(root / INFO_PATH, info)  # last: a root without info.json is not a dataset yet
        meta = DatasetMeta(root, info, feats, [], episodes_table(), [], [], {})
        log.info("created dataset %s (%d features, fps %s)", root, len(feats), fps)
        return cls(meta, lock)

    @classmethod
    def open(cls, root: str | os.PathLike) -> DatasetWriter:
        """Append to an existing dataset, finishing the clean-up of any interrupted write."""
        root = Path(root)
        if not (root / INFO_PATH).is_file():
            raise DatasetError(f"{root}: not a LeRobot dataset (no {INFO_PATH})")
        lock = _lock(root)
        try:
            removed = remove_temp_files(root)
            if removed:
                log.warning("%s: removed %d temporary files left by an interrupted write", root, len(removed))
            meta = load_meta(root)
            _remove_uncommitted_data_files(meta)
            writer = cls(meta, lock)
        except BaseException:
            _unlock(lock)
            raise
        if writer._uncommitted:
            writer._drop_uncommitted_rows()
        if meta.stale:  # info/stats lag the episodes meta: bring them up to date now
            writer._write_summary()
        return writer

    # ---- writing ----
    def add_episode(self, frames: Mapping[str, Any], task: str, meta: Mapping[str, Any] | None = None) -> int:
        """Append one episode of T frames; returns its episode_index.

        frames: feature name -> column of length T ((T,) or (T, *shape); a str or 0-d value is
        repeated). Missing ``timestamp`` / provenance / ``next.done`` columns are filled in;
        ``frame_index``, ``episode_index``, ``index`` and ``task_index`` are always set here.
        meta: JSON-safe scalars stored in the episode's row (e.g. success, outcome, seed).
        Everything is validated before anything is written.
        """
        if self._lock_fd < 0:
            raise DatasetError(f"{self.root}: writer is closed")
        if not isinstance(task, str) or not task:
            raise DatasetError(f"task must be a non-empty string, got {task!r}")
        cols = self._columns(frames, task)
        T = len(cols["index"])
        ep_stats = {n: st.compute_stats(f, cols[n]) for n, f in self._m.features.items() if st.has_stats(f)}
        ep_table = pa.Table.from_arrays([f.to_arrow(cols[n]) for n, f in self._m.features.items()], schema=self._schema)
        file, roll = self._target_file(ep_table.nbytes)
        data = ep_table if roll or self._table is None else pa.concat_tables([self._table, ep_table]).combine_chunks()
        blob = parquet_bytes(data, self._dict_cols)
        digest = sha256_hex(blob)
        ep = len(self._m.rows)
        row = {"episode_index": ep, "length": T, "dataset_from_index": self._m.num_frames,
               "dataset_to_index": self._m.num_frames + T, "data/chunk_index": file[0], "data/file_index": file[1],
               "tasks": [task], CHECKSUM_COLUMN: digest, **_clean_meta(meta or {})}
        stats_columns = {}
        for n, s in ep_stats.items():
            stats_columns.update(st.flat_columns(n, s))
        ep_meta = append_episode(self._m.table, {**row, **stats_columns})  # raises before any write

        # Order matters for crash safety: the data file's checksum, the data, tasks, then the episodes meta
        # (the commit point).
        write_pending(self.root, file, digest)
        write_bytes(self._m.data_path(*file), blob)
        new_task = task not in self._task_index
        if new_task:
            write_parquet(self.root / TASKS_PATH, tasks_table([*self._m.tasks, task]))
        write_parquet(self.root / EPISODES_PATH, ep_meta)

        if new_task:
            self._task_index[task] = len(self._m.tasks)
            self._m.tasks.append(task)
        self._m.table = ep_meta
        self._m.rows.append(row)
        self._m.offsets.append(0 if roll or self._table is None else self._table.num_rows)
        self._m.file_start.setdefault(file, row["dataset_from_index"])
        self._m.file_rows[file] = data.num_rows
        self._m.file_sha256[file] = digest
        self._file, self._table = file, data
        self._file_eps = 1 if roll else self._file_eps + 1
        self._file_bytes = blob.size
        for n, s in ep_stats.items():
            self._m.stats[n] = st.merge_stats(self._m.stats.get(n), s)
        self._write_summary()
        return ep

    def close(self) -> None:
        """Release the dataset (everything is already on disk after each add_episode)."""
        if self._lock_fd >= 0:
            _unlock(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    root = property(lambda self: self._m.root)
    features = property(lambda self: dict(self._m.features))
    num_episodes = property(lambda self: len(self._m.rows))
    num_frames = property(lambda self: self._m.num_frames)

    # ---- internals ----
    def _columns(self, frames: Mapping[str, Any], task: str) -> dict[str, np.ndarray]:
        """Validated columns for every feature, defaults filled in."""
        if not isinstance(frames, Mapping):
            raise DatasetError(f"frames must be a dict of columns, got {type(frames).__name__}")
        feats = self._m.features
        unknown = [k for k in frames if k not in feats]
        if unknown:
            raise DatasetError(f"frame columns {unknown} are not declared features (declared: {', '.join(feats)})")
        lengths = {k: len(v) for k, v in frames.items() if not isinstance(v, str) and np.ndim(v) > 0}
        if not lengths:
            raise DatasetError("an episode needs at least one frame column with a length")
        T = next(iter(lengths.values()))
        bad = {k: n for k, n in lengths.items() if n != T}
        if bad:
            raise DatasetError(f"frame columns differ in length: {next(iter(lengths))} has {T}, {bad}")
        if T == 0:
            raise DatasetError("an episode needs at least one frame")
        cols: dict[str, np.ndarray] = {}
        for name, feat in feats.items():
            if name in WRITER_COLUMNS:
                continue
            if name in frames:
                cols[name] = feat.check(frames[name], T)
            elif name == "timestamp":
                cols[name] = (np.arange(T) / self._m.info["fps"]).astype(np.float32)
            elif name in FRAME_DEFAULTS:
                cols[name] = feat.check(FRAME_DEFAULTS[name](T), T)
            else:
                raise DatasetError(f"frame column '{name}' is missing (declared, and it has no default)")
        if "source" in cols and feats["source"].is_string:
            odd = set(cols["source"]) - set(SOURCES)
            if odd:
                raise DatasetError(f"frame column 'source': {sorted(odd)} not in {SOURCES}")
        start = self._m.num_frames
        cols["frame_index"] = np.arange(T, dtype=np.int64)
        cols["episode_index"] = np.full(T, len(self._m.rows), dtype=np.int64)
        cols["index"] = np.arange(start, start + T, dtype=np.int64)
        cols["task_index"] = np.full(T, self._task_index.get(task, len(self._m.tasks)), dtype=np.int64)
        return cols

    def _target_file(self, nbytes: int) -> tuple[tuple[int, int], bool]:
        """(chunk, file) for the next episode and whether that starts a new file."""
        if self._table is None:
            return self._file, False
        if self._file_eps < self._max_eps and self._file_bytes + nbytes <= self._limit:
            return self._file, False
        chunk, file = self._file
        return ((chunk, file + 1) if file + 1 < self._chunks_size else (chunk + 1, 0)), True

    def _drop_uncommitted_rows(self) -> None:
        """Rewrite the current data file without the rows of a write killed before its commit: a reader of
        every row (lerobot-doctor, or LeRobot's own data loading) would otherwise count them as frames.
        Same order as an append: the checksum, the data, then the episodes meta that records it."""
        m, path = self._m, self._m.data_path(*self._file)
        log.warning("%s: dropping %d uncommitted rows from %s", m.root, self._uncommitted, path)
        blob = parquet_bytes(self._table, self._dict_cols)
        digest = sha256_hex(blob)
        table = m.table
        if CHECKSUM_COLUMN in table.column_names:  # the last episode's row records the file as it now is
            sums = table.column(CHECKSUM_COLUMN).to_pylist()
            sums[-1] = digest
            table = table.set_column(table.schema.get_field_index(CHECKSUM_COLUMN), CHECKSUM_COLUMN,
                                     pa.array(sums, pa.string()))
            write_pending(self.root, self._file, digest)
        write_bytes(path, blob)
        if table is not m.table:
            write_parquet(self.root / EPISODES_PATH, table)
            m.table, m.rows[-1][CHECKSUM_COLUMN], m.file_sha256[self._file] = table, digest, digest
        self._file_bytes, self._uncommitted = blob.size, 0

    def _write_summary(self) -> None:
        """stats.json then info.json: derived from the episodes meta, so a crash here loses nothing."""
        m = self._m
        write_json(self.root / STATS_PATH, st.stats_to_json(m.stats))
        m.info.update(total_episodes=len(m.rows), total_frames=m.num_frames, total_tasks=len(m.tasks),
                      splits={"train": f"0:{len(m.rows)}"})
        write_json(self.root / INFO_PATH, m.info)
        m.stale = False


def _clean_meta(meta: Mapping[str, Any]) -> dict:
    out = {}
    for k, v in meta.items():
        if not isinstance(k, str) or k in EPISODE_COLUMNS or k.startswith(_RESERVED_META_PREFIXES):
            raise DatasetError(f"episode meta key {k!r} is reserved or not a string")
        if isinstance(v, np.generic):
            v = v.item()
        if v is not None and not isinstance(v, (bool, int, float, str)):
            raise DatasetError(f"episode meta '{k}': must be a JSON-safe scalar (bool, int, float, str, None), "
                               f"got {type(v).__name__}")
        if isinstance(v, float) and not math.isfinite(v):
            raise DatasetError(f"episode meta '{k}': must be finite, got {v}")
        out[k] = v
    return out


def _lock(root: Path) -> int:
    fd = os.open(root / LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise DatasetError(f"{root}: another DatasetWriter has this dataset open") from None
    return fd


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _remove_uncommitted_data_files(meta: DatasetMeta) -> None:
    """Data files past the last committed one can only come from an interrupted roll-over."""
    last = max(meta.file_rows, default=(-1, -1))
    for path in (meta.root / "data").glob("chunk-*/file-*.parquet"):
        try:
            key = (int(path.parent.name.split("-")[1]), int(path.stem.split("-")[1]))
        except (IndexError, ValueError):
            continue
        if key > last:
            log.warning("%s: removing uncommitted data file %s", meta.root, path)
            path.unlink()


__all__ = ["LeRobotDataset", "DatasetWriter"]
