"""The training distribution of each feature, as ranges and bins, and the population stability index.

Training stores, per feature, the inner bin edges (deciles, merged where equal) and the
share of training customers in each bin; the service bins what it assigned with the same
edges and compares with :func:`psi`. Bins are right-closed: (-inf, e0], (e0, e1], ..., (ek, inf).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

N_BINS = 10
#: Floor for empty bins so that the PSI stays finite.
EPSILON = 1e-4


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the ``len(edges) + 1`` right-closed bins of ``edges``."""
    index = np.searchsorted(edges, values, side="left")
    return np.bincount(index, minlength=len(edges) + 1)


def feature_bins(X: pd.DataFrame, n_bins: int = N_BINS) -> dict[str, dict[str, list[float]]]:
    """Per feature: inner bin ``edges`` (quantiles, unique) and training ``proportions``."""
    out = {}
    for name in X.columns:
        values = X[name].to_numpy(np.float64)
        edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1], method="inverted_cdf"))
        counts = bin_counts(values, edges)
        out[name] = {"edges": edges.tolist(), "proportions": (counts / counts.sum()).tolist()}
    return out


def feature_ranges(X: pd.DataFrame) -> dict[str, dict[str, float]]:
    q = X.quantile([0.0, 0.01, 0.5, 0.99, 1.0])
    return {
        c: {
            "min": q.loc[0.0, c],
            "p01": q.loc[0.01, c],
            "median": q.loc[0.5, c],
            "p99": q.loc[0.99, c],
            "max": q.loc[1.0, c],
        }
        for c in X.columns
    }


def psi(expected: np.ndarray, actual_counts: np.ndarray) -> float:
    """Population stability index of observed counts against expected proportions.

    ``sum((a - e) * ln(a / e))`` over bins, with both shares floored at :data:`EPSILON`.
    Common reading: < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 significant shift.
    """
    total = actual_counts.sum()
    if total == 0:
        return 0.0
    a = np.maximum(actual_counts / total, EPSILON)
    e = np.maximum(np.asarray(expected, dtype=np.float64), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def check_bins(bins: Any, names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Validate stored bins (metadata) and return them as arrays."""
    out = {}
    for name in names:
        entry = bins[name]
        edges = np.asarray(entry["edges"], dtype=np.float64)
        props = np.asarray(entry["proportions"], dtype=np.float64)
        if len(props) != len(edges) + 1 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"feature_bins of {name} are inconsistent")
        out[name] = {"edges": edges, "proportions": props}
    return out
