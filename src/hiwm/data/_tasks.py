"""meta/tasks.parquet, laid out as LeRobot v3.0 writes it (without needing pandas).

LeRobot keeps its tasks as a pandas DataFrame indexed by the task string (index name ``task``) with one
``task_index`` column, saved with ``DataFrame.to_parquet``; its reader gets a frame's instruction as
``tasks.iloc[task_index].name``. On disk that is two columns, ``task_index`` and ``task``, plus the
``pandas`` schema metadata that tells pandas ``task`` is the index. Without that metadata pandas reads
a plain RangeIndex and every frame's task comes out as its row number. So the table is written with
that metadata here, and read back from either layout: hiwm's older one (plain ``task_index``, ``task``
columns), this one, or a LeRobot file whose unnamed index is stored as ``__index_level_0__``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from hiwm.data._files import read_parquet
from hiwm.errors import DatasetError

# The metadata pandas >= 1 reads (and pandas 2 writes) for a string index named "task": the same
# form LeRobot's write_tasks produces, so pd.read_parquet returns the task strings as the index.
_PANDAS_META = {
    "index_columns": ["task"],
    "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                        "metadata": {"encoding": "UTF-8"}}],
    "columns": [
        {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
         "metadata": None},
        {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
    ],
    "attributes": {},
    "creator": {"library": "pyarrow", "version": pa.__version__},
    "pandas_version": "2.2.3",
}


def tasks_table(tasks: list[str]) -> pa.Table:
    """Task strings in task_index order -> the table to store as meta/tasks.parquet."""
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    return table.replace_schema_metadata({"pandas": json.dumps(_PANDAS_META)})


def load_tasks(path: Path) -> list[str]:
    """meta/tasks.parquet -> task strings indexed by task_index (0..n-1 in row order)."""
    table = read_parquet(path, required=("task_index",))
    column = _task_column(table, path)
    idx_col, task_col = table.column("task_index"), table.column(column)
    if not pa.types.is_integer(idx_col.type):
        raise DatasetError(f"{path}: column 'task_index' must hold integers, got {idx_col.type}")
    if not (pa.types.is_string(task_col.type) or pa.types.is_large_string(task_col.type)):
        raise DatasetError(f"{path}: column '{column}' must hold the task strings, got {task_col.type}")
    idx, tasks = idx_col.to_pylist(), task_col.to_pylist()
    if idx != list(range(len(idx))):
        raise DatasetError(f"{path}: task_index must be 0..{len(idx) - 1} in order")
    if None in tasks or len(set(tasks)) != len(tasks):
        raise DatasetError(f"{path}: task strings must be present and unique")
    return tasks


def _task_column(table: pa.Table, path: Path) -> str:
    """Where the task strings are: a ``task`` column, else the pandas index column (unnamed index)."""
    if "task" in table.column_names:
        return "task"
    meta = (table.schema.metadata or {}).get(b"pandas")
    try:
        index = [c for c in json.loads(meta)["index_columns"] if isinstance(c, str)] if meta else []
    except (ValueError, KeyError, TypeError):
        raise DatasetError(f"{path}: unreadable pandas metadata") from None
    if len(index) == 1 and index[0] in table.column_names:
        return index[0]
    raise DatasetError(f"{path}: missing column 'task' (and no single pandas index holding the task strings)")
