"""Checksums of the data files: recorded when an episode is committed, verified when a file is read.

Each episode's row in the episodes meta records the sha256 of its data file as written with it
(``data/sha256``), so the last committed episode of a file holds the checksum the file must have. A file is
verified the first time it is read, and again whenever it changes on disk; a mismatch is a one-line
DatasetError naming the file, so a silently corrupted file is never read as data (or appended to).

Two legitimate cases leave a data file newer than the episodes meta a reader holds: a write interrupted
after the data file was replaced but before its episode was committed, and a live writer appending while
a reader reads. So before writing a data file the writer records its checksum in ``meta/.pending_data.json``.
A file that does not match is still accepted if it matches the pending checksum or one the episodes meta,
re-read, records for it: every such version was written by the writer, and a writer only appends, so
the rows the reader uses are unchanged. Files of datasets written before checksums are not verified.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa

from hiwm.data._files import first_line, read_json, read_parquet, write_json
from hiwm.data._meta import CHECKSUM_COLUMN, EPISODES_PATH, DatasetMeta
from hiwm.errors import DatasetError

PENDING_PATH = "meta/.pending_data.json"


def sha256_hex(data: bytes | pa.Buffer) -> str:
    return hashlib.sha256(memoryview(data)).hexdigest()


def write_pending(root: Path, file: tuple[int, int], digest: str) -> None:
    """Record the checksum of data file ``file`` before it is written (see the module docstring)."""
    write_json(root / PENDING_PATH, {"chunk_index": file[0], "file_index": file[1], "sha256": digest})


def _newer_checksums(root: Path, file: tuple[int, int]) -> set[str]:
    """Checksums the writer has recorded for ``file`` since: pending, then committed (read in that order,
    so a version that stopped being pending in between is committed by the time the meta is read)."""
    out = set()
    try:
        pending = read_json(root / PENDING_PATH)
    except DatasetError:
        pending = {}
    if (pending.get("chunk_index"), pending.get("file_index")) == file and isinstance(pending.get("sha256"), str):
        out.add(pending["sha256"])
    table = read_parquet(root / EPISODES_PATH)
    if CHECKSUM_COLUMN in table.column_names:
        cols = table.select(["data/chunk_index", "data/file_index", CHECKSUM_COLUMN]).to_pylist()
        out.update(r[CHECKSUM_COLUMN] for r in cols
                   if (r["data/chunk_index"], r["data/file_index"]) == file and r[CHECKSUM_COLUMN])
    return out


class VerifiedFiles:
    """Reads a dataset's data files, each verified against its checksum once per version on disk."""

    def __init__(self, meta: DatasetMeta):
        self._meta = meta
        self._verified: dict[Path, tuple[int, int, int]] = {}  # path -> (inode, size, mtime) verified

    def read(self, file: tuple[int, int], columns: list[str] | None = None) -> pa.Table:
        """All rows of data file ``file`` (only ``columns`` if given), verified if it has a checksum."""
        path = self._meta.data_path(*file)
        expected = self._meta.file_sha256.get(file)
        seen = self._verified.get(path)
        if expected is None or (seen is not None and seen == _signature(path)):
            return read_parquet(path, columns)
        data, signature = _read_bytes(path)
        digest = sha256_hex(data)
        if digest != expected and digest not in _newer_checksums(self._meta.root, file):
            raise DatasetError(f"{path}: checksum mismatch (sha256 {digest[:16]}, the dataset recorded "
                               f"{expected[:16]}): the file is corrupt or was changed")
        self._verified[path] = signature
        return read_parquet(path, columns, data=data)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        s = os.stat(path)
    except OSError:
        return None
    return s.st_ino, s.st_size, s.st_mtime_ns


def _read_bytes(path: Path) -> tuple[bytes, tuple[int, int, int]]:
    """The file's bytes and the signature of that very version (fstat on the open file)."""
    try:
        with open(path, "rb") as f:
            s = os.fstat(f.fileno())
            return f.read(), (s.st_ino, s.st_size, s.st_mtime_ns)
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing") from None
    except OSError as e:
        raise DatasetError(f"{path}: unreadable ({first_line(e)})") from None
