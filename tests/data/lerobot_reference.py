"""An independent LeRobotDataset v3.0 reader for the tests: pandas + pyarrow only, no hiwm code.

It reads a dataset the way LeRobot's own ``LeRobotDataset`` does: the data files of ``data/`` concatenated
in path order and indexed by position, ``meta/tasks.parquet`` read with pandas (a frame's task is
``tasks.iloc[task_index].name``, the DataFrame's index), the episodes meta for each episode's
``dataset_from_index`` / ``dataset_to_index``, and ``delta_timestamps`` turned into frame offsets
(``round(delta * fps)``), clamped to the episode with an ``{key}_is_pad`` flag, as LeRobot's
``_get_query_indices`` does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

TOLERANCE_S = 1e-4  # LeRobot's default tolerance for timestamps


class ReferenceDataset:
    def __init__(self, root: Path, delta_timestamps: dict[str, list[float]] | None = None):
        self.root = Path(root)
        self.info = json.loads((self.root / "meta/info.json").read_text())
        self.fps = self.info["fps"]
        self.tasks = pd.read_parquet(self.root / "meta/tasks.parquet")
        episodes = sorted((self.root / "meta/episodes").glob("*/*.parquet"))
        self.episodes = pd.concat([pd.read_parquet(p) for p in episodes], ignore_index=True)
        self.data = pd.concat([pd.read_parquet(p) for p in sorted((self.root / "data").glob("*/*.parquet"))],
                              ignore_index=True)
        self.image_keys = [k for k, f in self.info["features"].items() if f["dtype"] == "image"]
        self.delta_indices = None
        if delta_timestamps:
            for key, deltas in delta_timestamps.items():
                for d in deltas:  # LeRobot's check_delta_timestamps: whole frames at this fps
                    assert abs(d * self.fps - round(d * self.fps)) <= TOLERANCE_S * self.fps, (key, d)
            self.delta_indices = {k: [round(d * self.fps) for d in v] for k, v in delta_timestamps.items()}

    def __len__(self) -> int:
        return int(self.info["total_frames"])

    def _value(self, key: str, row: int):
        v = self.data[key].iloc[row]
        if key in self.image_keys:  # an embedded image: {"bytes": PNG, "path": None}
            return np.asarray(Image.open(io.BytesIO(v["bytes"])).convert("RGB"))
        return np.asarray(v) if isinstance(v, np.ndarray) else v

    def __getitem__(self, idx: int) -> dict:
        item = {k: self._value(k, idx) for k in self.data.columns}
        ep = self.episodes.set_index("episode_index").loc[int(item["episode_index"])]
        start, end = int(ep["dataset_from_index"]), int(ep["dataset_to_index"])
        if self.delta_indices:
            for key, offsets in self.delta_indices.items():
                query = [min(max(idx + d, start), end - 1) for d in offsets]
                item[key] = np.stack([np.asarray(self._value(key, q)) for q in query])
                item[f"{key}_is_pad"] = np.array([not start <= idx + d < end for d in offsets])
                item[f"{key}_timestamps"] = np.array([float(self.data["timestamp"].iloc[q]) for q in query])
        item["task"] = self.tasks.iloc[int(item["task_index"])].name
        return item
