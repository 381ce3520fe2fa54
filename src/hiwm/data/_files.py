"""Atomic file writes and checked reads for the dataset files.

Every file is written under a hidden temporary name in its own directory, flushed to disk, then
renamed over the target: a reader (or a process killed mid-write) sees the old file or the new one,
never half of one. Reads turn any missing, truncated or corrupt file into a one-line DatasetError
that names the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hiwm.errors import DatasetError

TMP_GLOB = ".*.tmp"


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write ``path`` via ``write(tmp_path)`` and an atomic rename; a crash leaves only a *.tmp file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename must not land before the bytes do
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: dict) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=4)
            f.write("\n")

    atomic_write(path, write)


def write_parquet(path: Path, table: pa.Table, dictionary_columns: list[str] | bool = True) -> None:
    """``dictionary_columns``: the columns worth dictionary-encoding (default all, as pyarrow does)."""
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, use_dictionary=dictionary_columns))


def parquet_bytes(table: pa.Table, dictionary_columns: list[str] | bool = True) -> pa.Buffer:
    """The parquet file ``write_parquet`` would write, in memory (so it can be hashed before it lands)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, use_dictionary=dictionary_columns)
    return sink.getvalue()


def write_bytes(path: Path, data: bytes | pa.Buffer) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(memoryview(data))

    atomic_write(path, write)


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(f"{path}: missing")
    try:
        with open(path) as f:
            obj = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: corrupt or truncated JSON ({first_line(e)})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _open_parquet(path: Path, data: bytes | None = None) -> pq.ParquetFile:
    """``data``: the file's bytes, already read (parsed from memory, not reread from disk)."""
    if data is None and not path.is_file():
        raise DatasetError(f"{path}: missing")
    try:
        return pq.ParquetFile(path if data is None else pa.BufferReader(data))
    except (pa.ArrowException, OSError) as e:
        raise DatasetError(f"{path}: corrupt or truncated parquet ({first_line(e)})") from None


def parquet_num_rows(path: Path) -> int:
    """Row count from the footer (cheap: a truncated file has no valid footer and fails here)."""
    return _open_parquet(path).metadata.num_rows


def read_parquet(path: Path, columns: list[str] | None = None, required: tuple[str, ...] = (),
                 data: bytes | None = None) -> pa.Table:
    """Read a parquet file (optionally only some columns, optionally from its bytes ``data``), checking
    that ``required`` columns exist."""
    pf = _open_parquet(path, data)
    names = set(pf.schema_arrow.names)
    for col in (*required, *(columns or ())):
        if col not in names:
            raise DatasetError(f"{path}: missing column '{col}'")
    try:
        return pf.read(columns=columns)
    except (pa.ArrowException, OSError) as e:
        raise DatasetError(f"{path}: corrupt parquet data ({first_line(e)})") from None


def remove_temp_files(root: Path) -> list[Path]:
    """Delete temporaries left by a killed writer; returns what was removed."""
    removed = [p for p in root.rglob(TMP_GLOB) if p.is_file()]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed
