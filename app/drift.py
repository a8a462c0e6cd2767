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

import fcntl
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
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


class _MemoryWindow:
    """The ring buffer in this process's memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._version: str | None = None
        self._X = np.empty((0, 0))
        self._labels = np.empty(0, dtype=np.int64)
        self._next = self._count = 0

    def add(self, version: str, X: np.ndarray, labels: np.ndarray) -> None:
        if self._version != version:
            self._version = version
            self._X = np.empty((self.size, X.shape[1]))
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

    def rows(self, version: str, n_features: int) -> tuple[np.ndarray, np.ndarray]:
        n = self._count if self._version == version else 0
        if not n:
            return np.empty((0, n_features)), np.empty(0, dtype=np.int64)
        return self._X[:n].copy(), self._labels[:n].copy()

    def clear(self) -> None:
        self._version = None
        self._next = self._count = 0


# File layout: a header (version, features, next, count), then ``size`` records of the
# features and the segment index as float64. The version is kept as 200 UTF-8 bytes.
_HEADER = struct.Struct("<200sqqq")
_OFFSET = 256


class _FileWindow:
    """The ring buffer in a file shared by the workers of one server, locked with ``flock``."""

    def __init__(self, size: int, path: Path) -> None:
        self.size, self.path = size, path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def _header(self) -> tuple[bytes, int, int, int]:
        raw = os.pread(self._fd, _HEADER.size, 0)
        if len(raw) < _HEADER.size:
            return b"", 0, 0, 0
        version, width, nxt, count = _HEADER.unpack(raw)
        return version.rstrip(b"\0"), width, nxt, count

    def _write_header(self, version: bytes, width: int, nxt: int, count: int) -> None:
        os.pwrite(self._fd, _HEADER.pack(version, width, nxt, count), 0)

    def add(self, version: str, X: np.ndarray, labels: np.ndarray) -> None:
        records = np.column_stack([X, labels]).astype(np.float64, copy=False)
        width = records.shape[1]
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            held, held_width, start, count = self._header()
            if held != version.encode()[:200] or held_width != width:
                start = count = 0
                os.ftruncate(self._fd, _OFFSET + self.size * width * 8)
            n = len(records)
            first = min(n, self.size - start)  # up to the end of the file, then from the top
            os.pwrite(self._fd, records[:first].tobytes(), _OFFSET + start * width * 8)
            if first < n:
                os.pwrite(self._fd, records[first:].tobytes(), _OFFSET)
            self._write_header(
                version.encode()[:200], width, (start + n) % self.size, min(count + n, self.size)
            )
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def rows(self, version: str, n_features: int) -> tuple[np.ndarray, np.ndarray]:
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        try:
            held, width, _, count = self._header()
            same = held == version.encode()[:200] and width == n_features + 1
            raw = os.pread(self._fd, count * width * 8, _OFFSET) if same and count else b""
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        if not raw:
            return np.empty((0, n_features)), np.empty(0, dtype=np.int64)
        records = np.frombuffer(raw, dtype=np.float64).reshape(-1, width)
        return records[:, :n_features].copy(), records[:, n_features].astype(np.int64)

    def clear(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._write_header(b"", 0, 0, 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


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
        self._window: _MemoryWindow | _FileWindow = (
            _MemoryWindow(size) if shared_dir is None else _FileWindow(size, shared_dir / "drift.window")
        )

    def record(self, ref: Reference, X: np.ndarray, labels: np.ndarray) -> None:
        """Add assigned customers; a new model version starts a new window."""
        X, labels = X[-self.size :], labels[-self.size :]
        with self._lock:
            self._window.add(ref.version, X, labels)

    def reset(self) -> None:
        with self._lock:
            self._window.clear()

    def close(self) -> None:
        """Let go of the shared file (it stays for the other workers)."""
        if isinstance(self._window, _FileWindow):
            self._window.close()

    def window(self, current: Reference) -> tuple[np.ndarray, np.ndarray]:
        """The window's features and segment indices if it holds ``current``'s version (else empty)."""
        with self._lock:
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
