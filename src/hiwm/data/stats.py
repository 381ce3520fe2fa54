"""Per-feature statistics (mean, std, min, max, count), computed per episode and merged exactly.

Each episode's stats are stored in its row of the episodes meta; the dataset's stats are the merge
of those, so appending never rereads frames and ``stats.json`` can always be rebuilt from the
episodes meta. Merging uses Chan et al.'s pairwise update on (count, mean, M2) in float64, which is
exact up to rounding and does not suffer the cancellation of raw sums of squares.

Shapes: numeric features give stats of the feature's shape ((1,) for scalars); images give
per-channel stats of pixel / 255 with shape (3, 1, 1), as LeRobot does. ``count`` is (1,) frames.
"""

from __future__ import annotations

import numpy as np

from hiwm.data.features import Feature

STAT_KEYS = ("mean", "std", "min", "max", "count")
Stats = dict[str, np.ndarray]


def has_stats(feature: Feature) -> bool:
    return feature.is_numeric or feature.is_image


def stat_shape(feature: Feature) -> tuple[int, ...]:
    return (feature.shape[2], 1, 1) if feature.is_image else feature.shape


def compute_stats(feature: Feature, arr: np.ndarray) -> Stats:
    """One episode's column ((T,), (T, *shape) or images (T, H, W, 3)) -> stats."""
    T = arr.shape[0]
    if feature.is_image:
        x = arr.reshape(-1, arr.shape[-1])  # (T*H*W, C) uint8: reduce in float64 per channel
        mean = x.mean(axis=0, dtype=np.float64) / 255.0
        var = x.var(axis=0, dtype=np.float64) / 255.0**2
        lo, hi = x.min(axis=0) / 255.0, x.max(axis=0) / 255.0
    else:
        x = arr.reshape(T, *feature.shape).astype(np.float64)
        mean, var, lo, hi = x.mean(axis=0), x.var(axis=0), x.min(axis=0), x.max(axis=0)
    shape = stat_shape(feature)
    return {"mean": np.reshape(mean, shape), "std": np.sqrt(np.reshape(var, shape)),
            "min": np.reshape(lo, shape).astype(np.float64), "max": np.reshape(hi, shape).astype(np.float64),
            "count": np.array([T], dtype=np.int64)}


def merge_stats(a: Stats | None, b: Stats) -> Stats:
    """Stats of the union of two disjoint sets of frames."""
    if a is None:
        return {k: v.copy() for k, v in b.items()}
    na, nb = float(a["count"][0]), float(b["count"][0])
    n = na + nb
    delta = b["mean"] - a["mean"]
    mean = a["mean"] + delta * (nb / n)
    m2 = a["std"] ** 2 * na + b["std"] ** 2 * nb + delta**2 * (na * nb / n)
    return {"mean": mean, "std": np.sqrt(m2 / n), "min": np.minimum(a["min"], b["min"]),
            "max": np.maximum(a["max"], b["max"]), "count": a["count"] + b["count"]}


def stats_to_json(stats: dict[str, Stats]) -> dict:
    return {name: {k: v.tolist() for k, v in s.items()} for name, s in stats.items()}


def stats_from_json(data: dict, features: dict[str, Feature]) -> dict[str, Stats]:
    """Parsed stats.json -> arrays shaped by the features (raises KeyError/ValueError on bad content)."""
    out = {}
    for name, s in data.items():
        shape = stat_shape(features[name])
        out[name] = {k: np.asarray(s[k], dtype=np.float64).reshape(shape) for k in STAT_KEYS[:4]}
        out[name]["count"] = np.asarray(s["count"], dtype=np.int64).reshape(1)
    return out


def flat_columns(name: str, stats: Stats) -> dict[str, list[float]]:
    """Stats of one feature -> episodes-meta columns ``stats/<name>/<key>`` holding flat lists."""
    return {f"stats/{name}/{k}": np.asarray(v, dtype=np.float64).reshape(-1).tolist() for k, v in stats.items()}


def from_flat_columns(row: dict, feature: Feature) -> Stats | None:
    """An episodes-meta row -> that episode's stats of ``feature`` (None if the row has none)."""
    prefix = f"stats/{feature.name}/"
    if row.get(prefix + "count") is None:
        return None
    shape = stat_shape(feature)
    s = {k: np.asarray(row[prefix + k], dtype=np.float64).reshape(shape) for k in STAT_KEYS[:4]}
    s["count"] = np.asarray(row[prefix + "count"], dtype=np.int64).reshape(1)
    return s
