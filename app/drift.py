"""Drift: a bounded window of what the service assigned, compared with training.

The window is a ring buffer of the last ``size`` assigned customers (features in original
units and segment index). In one process it is a numpy array; when the server runs several
workers (``PROMETHEUS_MULTIPROC_DIR`` set, see :mod:`app.metrics`) it is one file in that
directory, written and read under an ``flock`` by every worker, so the replica has one
window and ``/v1/drift`` answers the same whichever worker serves it.

The report bins each feature with the training bin edges stored in the model metadata
(``feature_bins``) and gives its population stability index (PSI), plus the PSI of segment
shares; ``drift`` is true when any PSI crosses the threshold and the window holds at least
``min_customers``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shopper_segments.app.drift_window import FileWindow, MemoryWindow
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
    """Thread-safe ring buffer of assigned customers of one model version.

    With ``shared_dir`` the buffer is the file ``drift.window`` there, shared by every
    process that opens it (the workers of one server); otherwise it is in memory.
    """

    def __init__(
        self, size: int, threshold: float, min_customers: int, shared_dir: Path | None = None
    ) -> None:
        self.size, self.threshold, self.min_customers = size, threshold, min_customers
        self._lock = threading.Lock()
        self._window: MemoryWindow | FileWindow = (
            MemoryWindow(size) if shared_dir is None else FileWindow(size, shared_dir / "drift.window")
        )
        # The shared file is written in batches (app.batched.Flusher calls flush): what waits here.
        self._pending: list[tuple[str, np.ndarray, np.ndarray]] | None = None if shared_dir is None else []

    def record(self, ref: Reference, X: np.ndarray, labels: np.ndarray) -> None:
        """Add assigned customers; a new model version starts a new window."""
        X, labels = X[-self.size :], labels[-self.size :]
        with self._lock:
            if self._pending is None:
                self._window.add(ref.version, X, labels)
            else:
                self._pending.append((ref.version, X, labels))

    def flush(self) -> None:
        """Write the customers recorded since the last flush to the shared window (in order)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        start = 0
        while start < len(pending):  # one write per run of one version
            version, end = pending[start][0], start + 1
            while end < len(pending) and pending[end][0] == version:
                end += 1
            X = np.concatenate([p[1] for p in pending[start:end]])
            labels = np.concatenate([p[2] for p in pending[start:end]])
            self._window.add(version, X[-self.size :], labels[-self.size :])
            start = end

    def reset(self) -> None:
        with self._lock:
            if self._pending:
                self._pending.clear()
            self._window.clear()

    def close(self) -> None:
        """Write what waits, then let go of the shared file (it stays for the other workers)."""
        if isinstance(self._window, FileWindow):
            self.flush()
            self._window.close()

    def window(self, current: Reference) -> tuple[np.ndarray, np.ndarray]:
        """The window's features and segment indices if it holds ``current``'s version (else empty)."""
        with self._lock:
            self._flush()  # this worker's customers are all in; the others' within FLUSH_S
            return self._window.rows(current.version, len(current.names))

    def report(self, current: Reference) -> dict[str, Any]:
        """PSI per feature and of segment shares for the window of ``current``'s version."""
        X, labels = self.window(current)
        n = len(labels)
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
