"""The data layer: LeRobotDataset v3.0 writer and reader, and training windows for policies."""

from hiwm.data.features import (DEFAULT_FEATURES, PROVENANCE_FEATURES, SOURCES, Feature, parse_features,
                                standard_features)
from hiwm.data.lerobot import DatasetWriter, LeRobotDataset

__all__ = [
    "DEFAULT_FEATURES",
    "PROVENANCE_FEATURES",
    "SOURCES",
    "DatasetWriter",
    "EpisodeWindows",
    "Feature",
    "LeRobotDataset",
    "WindowMixture",
    "parse_features",
    "standard_features",
]


def __getattr__(name: str):
    # The windows need torch; load them on first use so that writing or reading a dataset (e.g. in a
    # data-collection subprocess) does not pay torch's import time.
    if name in ("EpisodeWindows", "WindowMixture"):
        from hiwm.data import windows

        return getattr(windows, name)
    raise AttributeError(f"module 'hiwm.data' has no attribute {name!r}")
