"""Success-rate statistics."""

from __future__ import annotations

import math

import numpy as np


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion (well behaved at 0% and 100%)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def pearson(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def spearman(x, y) -> float:
    def ranks(v):
        v = np.asarray(v, float)
        order = v.argsort()
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for val in np.unique(v):  # average ties
            m = v == val
            r[m] = r[m].mean()
        return r

    return pearson(ranks(x), ranks(y))


def bootstrap_pearson(x, y, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of Pearson r over ``resamples`` resamplings of the (x, y) pairs with replacement
    (resamples where r is undefined, e.g. all points equal, are skipped); (nan, nan) with fewer than 3 points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3:
        return (float("nan"), float("nan"))
    idx = np.random.default_rng(seed).integers(len(x), size=(resamples, len(x)))
    rs = np.array([pearson(x[i], y[i]) for i in idx])
    rs = rs[~np.isnan(rs)]
    if not len(rs):
        return (float("nan"), float("nan"))
    return (float(np.percentile(rs, 2.5)), float(np.percentile(rs, 97.5)))


def mmrv(real, predicted) -> float:
    """Mean maximum rank violation (SIMPLER): for each policy, the largest real-success difference to a policy
    that ``predicted`` orders the other way from ``real`` (0 where none does); averaged over the policies. 0 is a
    perfect ranking; success rates in [0, 1] give an MMRV in [0, 1]."""
    r, p = np.asarray(real, float), np.asarray(predicted, float)
    if not len(r):
        return float("nan")
    violated = (r[:, None] < r[None, :]) != (p[:, None] < p[None, :])
    return float((np.abs(r[:, None] - r[None, :]) * violated).max(axis=1).mean())
