"""Drift: a bounded window of what the service assigned, compared with training.

The window is a numpy ring buffer of the last ``size`` assigned customers (features in
original units and segment index). The report bins each feature with the training bin
edges stored in the model metadata (``feature_bins``) and gives its population stability
index (PSI), plus the PSI of segment shares; ``drift`` is true when any PSI crosses the
threshold and the window holds at least ``min_customers``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from shopper_segments.core import reference
from shopper_segments.core.contract import ModelMetadata

if TYPE_CHECKING:
    from shopper_segments.app.segmenter import LoadedModel


@dataclass(frozen=True)
class Reference:
    """What one model version saw at training: ranges, bins, segment shares."""

    version: str
    names: list[str]
    low: np.ndarray
    high: np.ndarray
    bins: dict[str, dict[str, np.ndarray]]
    segment_ids: list[int]
    segment_names: list[str]
    segment_shares: np.ndarray

    @classmethod
    def build(cls, meta: ModelMetadata, names: list[str]) -> Reference:
        """The reference of a parsed model contract (``names``: the model's feature order).

        Raises
        ------
        ValueError
            A feature has no range or bins, or the bins are inconsistent.
        """
        missing = [n for n in names if n not in meta.feature_ranges or n not in meta.feature_bins]
        if missing:
            raise ValueError(f"features {missing} have no feature_ranges or feature_bins")
        ranges = meta.feature_ranges
        bins = reference.check_bins({n: b.model_dump() for n, b in meta.feature_bins.items()}, names)
        return cls(
            version=meta.version,
            names=list(names),
            low=np.array([ranges[n].min for n in names], dtype=np.float64),
            high=np.array([ranges[n].max for n in names], dtype=np.float64),
            bins=bins,
            segment_ids=[s.id for s in meta.segments],
            segment_names=[s.name for s in meta.segments],
            segment_shares=np.array([s.share for s in meta.segments], dtype=np.float64),
        )

    @classmethod
    def of(cls, loaded: LoadedModel) -> Reference:
        """The reference of a loaded model (built when it loaded)."""
        return loaded.derived.reference


class DriftMonitor:
    """Thread-safe ring buffer of assigned customers of one model version."""

    def __init__(self, size: int, threshold: float, min_customers: int) -> None:
        self.size, self.threshold, self.min_customers = size, threshold, min_customers
        self._lock = threading.Lock()
        self._ref: Reference | None = None
        self._X = np.empty((0, 0))
        self._labels = np.empty(0, dtype=np.int64)
        self._next = 0
        self._count = 0

    def record(self, ref: Reference, X: np.ndarray, labels: np.ndarray) -> None:
        """Add assigned customers; a new model version starts a new window."""
        X, labels = X[-self.size :], labels[-self.size :]
        with self._lock:
            if self._ref is None or self._ref.version != ref.version:
                self._ref = ref
                self._X = np.empty((self.size, len(ref.names)))
                self._labels = np.empty(self.size, dtype=np.int64)
                self._next = self._count = 0
            n, start = len(labels), self._next
            if start + n <= self.size:  # no wrap: plain slices (the common, cheap case)
                self._X[start : start + n] = X
                self._labels[start : start + n] = labels
            else:
                idx = (start + np.arange(n)) % self.size
                self._X[idx] = X
                self._labels[idx] = labels
            self._next = (start + n) % self.size
            self._count = min(self._count + n, self.size)

    def reset(self) -> None:
        with self._lock:
            self._ref = None
            self._count = self._next = 0

    def report(self, current: Reference) -> dict[str, Any]:
        """PSI per feature and of segment shares for the window of ``current``'s version."""
        with self._lock:
            same = self._ref is not None and self._ref.version == current.version
            n = self._count if same else 0
            X = self._X[:n].copy() if n else np.empty((0, len(current.names)))
            labels = self._labels[:n].copy()
        ref = current
        enough = n >= self.min_customers
        features = []
        for j, name in enumerate(ref.names):
            b = ref.bins[name]
            counts = reference.bin_counts(X[:, j], b["edges"])
            value = reference.psi(b["proportions"], counts) if n else 0.0
            features.append({"feature": name, "psi": value, "drift": bool(enough and value > self.threshold)})
        seg_counts = np.bincount(labels, minlength=len(ref.segment_ids))
        seg_psi = reference.psi(ref.segment_shares, seg_counts) if n else 0.0
        window = seg_counts / n if n else np.zeros(len(ref.segment_ids))
        shares = [
            {
                "segment_id": ref.segment_ids[i],
                "segment_name": ref.segment_names[i],
                "window_share": float(window[i]),
                "training_share": float(ref.segment_shares[i]),
            }
            for i in range(len(ref.segment_ids))
        ]
        drifted = [f["feature"] for f in features if f["drift"]]
        if enough and seg_psi > self.threshold:
            drifted.append("segment_shares")
        return {
            "model_version": ref.version,
            "window_customers": n,
            "window_size": self.size,
            "min_customers": self.min_customers,
            "enough_data": enough,
            "threshold": self.threshold,
            "drift": bool(drifted),
            "drifted": drifted,
            "features": features,
            "segments": {
                "psi": seg_psi,
                "drift": bool(enough and seg_psi > self.threshold),
                "shares": shares,
            },
        }
