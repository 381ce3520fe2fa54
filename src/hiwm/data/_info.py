"""meta/info.json: the type of every field the reader and writer trust, and safe path templates.

A dataset is a folder someone may hand you, so nothing in info.json is taken on faith: a wrong type is a
one-line DatasetError naming the file and the field (not a traceback deep in the reader), and a
``data_path`` / ``video_path`` template must name files inside the dataset folder. A template is checked
when the file is loaded (its fields, and the first file it names) and again for every file it is asked
for, since a format spec can build a path (``"..{chunk_index:/>2}"`` is ``../0`` for chunk 0).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from string import Formatter
from typing import Any

from hiwm.data._files import first_line
from hiwm.errors import DatasetError

CODEBASE_VERSION = "v3.0"
INFO_PATH = "meta/info.json"

_DATA_FIELDS = ("chunk_index", "file_index")
_VIDEO_FIELDS = ("video_key", "chunk_index", "file_index")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# field -> (required, test, what it must be)
_FIELDS: dict[str, tuple[bool, Callable[[Any], bool], str]] = {
    "codebase_version": (True, lambda v: isinstance(v, str), "a string"),
    "fps": (True, lambda v: _number(v) and v > 0, "a positive number"),
    "features": (True, lambda v: isinstance(v, dict), "an object of feature declarations"),
    "total_episodes": (True, lambda v: _int(v) and v >= 0, "a non-negative integer"),
    "total_frames": (True, lambda v: _int(v) and v >= 0, "a non-negative integer"),
    "chunks_size": (True, lambda v: _int(v) and v >= 1, "a positive integer"),
    "data_path": (True, lambda v: isinstance(v, str) and v != "", "a path template string"),
    "total_tasks": (False, lambda v: _int(v) and v >= 0, "a non-negative integer"),
    "data_files_size_in_mb": (False, lambda v: _number(v) and v > 0, "a positive number"),
    "video_files_size_in_mb": (False, lambda v: _number(v) and v > 0, "a positive number"),
    "max_episodes_per_file": (False, lambda v: _int(v) and v >= 1, "a positive integer"),
    "video_path": (False, lambda v: v is None or (isinstance(v, str) and v != ""), "null or a path template string"),
    "robot_type": (False, lambda v: v is None or isinstance(v, str), "null or a string"),
    "splits": (False, lambda v: isinstance(v, dict), "an object"),
}


def check_info(root: Path, info: dict) -> dict:
    """Validate a loaded info.json (fields, version, templates); returns it unchanged."""
    path = root / INFO_PATH
    missing = [k for k, (required, _, _) in _FIELDS.items() if required and k not in info]
    if missing:
        raise DatasetError(f"{path}: missing keys {missing}")
    for key, (_, test, what) in _FIELDS.items():
        if key in info and not test(info[key]):
            raise DatasetError(f"{path}: '{key}' must be {what}, got {info[key]!r}")
    if info["codebase_version"] != CODEBASE_VERSION:
        raise DatasetError(f"{path}: codebase_version {info['codebase_version']!r} is not supported "
                           f"(expected {CODEBASE_VERSION!r})")
    _check_fields(path, "data_path", info["data_path"], _DATA_FIELDS, required=_DATA_FIELDS)
    template_path(root, info, "data_path", chunk_index=0, file_index=0)
    if info.get("video_path") is not None:
        _check_fields(path, "video_path", info["video_path"], _VIDEO_FIELDS, required=())
        template_path(root, info, "video_path", video_key="observation.image", chunk_index=0, file_index=0)
    return info


def _check_fields(path: Path, key: str, template: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
    """Only plain ``{name}`` / ``{name:spec}`` fields from ``allowed``: no attribute or item access."""
    try:
        fields = [(name, spec) for _, name, spec, _ in Formatter().parse(template) if name is not None]
    except ValueError as e:
        raise DatasetError(f"{path}: '{key}' {template!r} is not a valid template ({first_line(e)})") from None
    for name, spec in fields:
        if name not in allowed or "{" in (spec or ""):
            raise DatasetError(f"{path}: '{key}' {template!r} may only use the fields {', '.join(allowed)}")
    lacking = [f for f in required if f not in {n for n, _ in fields}]
    if lacking:
        raise DatasetError(f"{path}: '{key}' {template!r} must use {', '.join(lacking)} (one file per chunk and file)")


def template_path(root: Path, info: dict, key: str, **fields: Any) -> Path:
    """The file a template names for ``fields``, refused unless it lies inside ``root``."""
    template = info[key]
    where = root / INFO_PATH
    try:
        rel = template.format(**fields)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as e:
        raise DatasetError(f"{where}: '{key}' {template!r} is not a valid template ({first_line(e)})") from None
    if not rel or os.path.isabs(rel) or ".." in PurePosixPath(rel).parts or "\\" in rel:
        raise DatasetError(f"{where}: '{key}' {template!r} points outside the dataset folder ({rel!r})")
    path = root / rel
    real = path.resolve()
    if not real.is_relative_to(root.resolve()):
        raise DatasetError(f"{where}: '{key}' {template!r} points outside the dataset folder ({rel!r} is {real}, "
                           "through a symlink)")
    return path
