"""The session log: an append-only journal of JSON lines, one record per line (records.py says what they hold).

Guarantees:

- Durable before applied: ``append`` writes a change's records with one ``os.write`` and fsyncs them; the engine
  changes its tree only after that returns. A failed write (a full disk) is cut back off the file, so the log
  and the session in memory both stay as they were, and the caller gets one line naming the file.
- One writer: an open log holds an exclusive ``flock``; a second process gets "in use by another process".
- Torn tails: a killed process can leave only an unterminated last line. Reading ignores it; opening for
  append cuts it off (with a warning), so new records start on a fresh line.
- Integrity: each record carries ``crc``, the crc32 of its canonical JSON (sorted keys, no spaces) without
  that field, checked on reading; logs written before checksums existed still open. Any other bad line is a
  one-line error naming the file and line.

    log = SessionLog.create(path, [header, root, branch])   # atomic: the file appears whole or not at all
    log = SessionLog.open(path); records = log.records()    # resume (locks, cuts a torn tail)
    log.append([record, ...]); log.close()
    SessionLog.read(path)                                   # read-only, no lock
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import zlib
from pathlib import Path

from hiwm.errors import HiwmError
from hiwm.session.records import LogRecords, decode_value, encode_value  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

CRC = "crc"
_os_write = os.write  # one indirection so tests can inject a failing disk


class SessionLogBusy(HiwmError):
    """Another process has the session log open."""


def canonical(record: dict) -> bytes:
    return json.dumps(record, separators=(",", ":"), sort_keys=True).encode("ascii")


def encode_line(record: dict) -> bytes:
    """One record -> one line: its canonical JSON with ``crc`` appended (the record itself is not changed)."""
    body = canonical(record)
    return body[:-1] + b',"' + CRC.encode() + b'":' + str(zlib.crc32(body)).encode() + b"}\n"


def parse_lines(data: bytes, path: Path) -> tuple[list[tuple[int, dict]], int]:
    """The complete lines of ``data`` -> ((line number, record) ..., end of the last complete line).

    Bytes after the last newline are a torn write and are not returned; any complete line that is not
    UTF-8, not JSON, not an object, or fails its checksum raises a HiwmError naming the file and line.
    """
    end = data.rfind(b"\n") + 1
    out, checked = [], False
    for i, raw in enumerate(data[:end].split(b"\n")[:-1], start=1):
        where = f"{path}: line {i}"
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise HiwmError(f"{where}: not UTF-8 text") from None
        except (ValueError, RecursionError):
            raise HiwmError(f"{where}: not valid JSON") from None
        if not isinstance(record, dict):
            raise HiwmError(f"{where}: a record must be a JSON object, got a {type(record).__name__}")
        crc = record.pop(CRC, None)
        if crc is None:
            if checked:  # a log written before checksums has none; one written after has them on every line
                raise HiwmError(f"{where}: the record has no checksum, the records before it have")
        elif isinstance(crc, bool) or not isinstance(crc, int) or crc != zlib.crc32(canonical(record)):
            raise HiwmError(f"{where}: checksum mismatch (the record is corrupt)")
        else:
            checked = True
        out.append((i, record))
    return out, end


def _records(data: bytes, path: Path) -> LogRecords:
    lines, end = parse_lines(data, path)
    if end < len(data):
        log.warning("%s: ignoring an incomplete last record (%d bytes)", path, len(data) - end)
    return LogRecords(lines, str(path))


def _lock_holder(path: Path) -> int | None:
    """The pid holding a flock on ``path`` (Linux /proc/locks), or None when it cannot be told."""
    try:
        st = os.stat(path)
        key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        with open("/proc/locks", encoding="ascii") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == key:
                    return int(parts[4])
    except (OSError, ValueError):
        pass
    return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    """One os.write of the whole batch; a short write (a nearly full disk) goes on, so the real error surfaces."""
    done = _os_write(fd, data)
    while done < len(data):
        n = _os_write(fd, data[done:])
        if n <= 0:
            raise OSError(errno.EIO, "the disk accepted no more bytes")
        done += n


class SessionLog:
    """An open, locked session log (use :meth:`create` or :meth:`open`)."""

    def __init__(self, path: Path, fd: int, size: int):
        self.path, self._fd, self._size = path, fd, size
        self._broken: str | None = None  # set when a failed write could not be cut back off

    # ------------------------------------------------------------- opening ----
    @classmethod
    def create(cls, path: str | Path, records: list[dict]) -> "SessionLog":
        """A new log holding ``records`` (header first): written to a temporary file, then linked into place."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise HiwmError(f"session log exists already (resume it, or choose another path): {path}")
        data = b"".join(encode_line(r) for r in records)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.link(tmp, path)  # fails if the path exists: of two creators, one wins
        except FileExistsError:
            raise HiwmError(f"session log exists already (resume it, or choose another path): {path}") from None
        except OSError as e:
            raise HiwmError(f"could not write the session log {path}: {e.strerror or e}") from None
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return cls._locked(path)

    @classmethod
    def open(cls, path: str | Path) -> "SessionLog":
        """An existing log, locked for appending; a torn last line is cut off (so the next record starts a line)."""
        path = Path(path)
        if not path.is_file():
            raise HiwmError(f"no session log at {path}")
        return cls._locked(path)

    @classmethod
    def _locked(cls, path: Path) -> "SessionLog":
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except OSError as e:
            raise HiwmError(f"could not open the session log {path}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                pid = _lock_holder(path)
                raise SessionLogBusy(f"session log {path} is in use by another process"
                                     f"{f' (pid {pid})' if pid else ''}: close that studio first") from None
            raise HiwmError(f"could not lock the session log {path}: {e.strerror or e}") from None
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, size, 0)
            end = data.rfind(b"\n") + 1
            if end < len(data):
                os.ftruncate(fd, end)
                os.fsync(fd)
                log.warning("%s: cut %d bytes of an incomplete last record", path, len(data) - end)
        except OSError as e:
            os.close(fd)
            raise HiwmError(f"could not repair the session log {path}: {e.strerror or e}") from None
        return cls(path, fd, end)

    # ------------------------------------------------------------- reading ----
    def records(self) -> LogRecords:
        """This log's records, checked (one-line HiwmError naming the file and line otherwise)."""
        return _records(os.pread(self._fd, self._size, 0), self.path)

    @staticmethod
    def read(path: str | Path) -> LogRecords:
        """The records of the log at ``path`` without opening it for writing (no lock)."""
        path = Path(path)
        if not path.is_file():
            raise HiwmError(f"no session log at {path}")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise HiwmError(f"could not read the session log {path}: {e.strerror or e}") from None
        return _records(data, path)

    # ------------------------------------------------------------- writing ----
    def append(self, records: list[dict]) -> None:
        """Write ``records`` as one durable unit: all of them are on disk when this returns, or none is."""
        if self._fd is None:
            raise HiwmError(f"the session log {self.path} is closed")
        if self._broken:
            raise HiwmError(f"the session log {self.path} could not be repaired after a failed write "
                            f"({self._broken}): restart on it")
        data = b"".join(encode_line(r) for r in records)
        try:
            _write_all(self._fd, data)
            os.fsync(self._fd)
        except OSError as e:
            reason = e.strerror or str(e)
            try:  # no half record may stay behind: the next one would be appended onto it
                os.ftruncate(self._fd, self._size)
            except OSError as cut:
                self._broken = cut.strerror or str(cut)
                log.error("%s: could not cut back a failed write: %s", self.path, self._broken)
            else:
                try:  # the next append's fsync makes the cut durable if this one cannot
                    os.fsync(self._fd)
                except OSError:
                    log.warning("%s: a failed write was cut back but not yet synced", self.path)
            raise HiwmError(f"could not write the session log {self.path}: {reason}") from None
        self._size += len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __del__(self) -> None:
        try:  # a log dropped without close() (a test's "crash") still lets go of its lock
            self.close()
        except (OSError, TypeError):  # at interpreter exit ``os`` may be gone already
            pass
