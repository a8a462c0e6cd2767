"""The drift window's ring buffer: in memory, or in a file the workers of one server share.

Both hold the last ``size`` assigned customers of one model version (features in original
units and segment index); a customer of another version starts the buffer anew. The file
version is written and read under ``flock`` (exclusive to add, shared to read), so every
worker of a server sees one buffer; callers serialize the threads of one process.
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

import numpy as np


class MemoryWindow:
    """The ring buffer in this process's memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._version: str | None = None
        self._X = np.empty((0, 0))
        self._labels = np.empty(0, dtype=np.int64)
        self._next = self._count = 0

    def add(self, version: str, X: np.ndarray, labels: np.ndarray) -> None:
        """Append customers ``X`` (features) with their segment ``labels``, assigned by ``version``."""
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
        """Copies of the features and segment indices held, if they are ``version``'s (else empty)."""
        n = self._count if self._version == version else 0
        if not n:
            return np.empty((0, n_features)), np.empty(0, dtype=np.int64)
        return self._X[:n].copy(), self._labels[:n].copy()

    def clear(self) -> None:
        """Forget every customer held."""
        self._version = None
        self._next = self._count = 0


# File layout: a header (version, features, next, count), then ``size`` records of the
# features and the segment index as float64. The version is kept as 200 UTF-8 bytes.
_HEADER = struct.Struct("<200sqqq")
_OFFSET = 256


class FileWindow:
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
        """As :meth:`MemoryWindow.add`, under an exclusive lock of the file."""
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
        """As :meth:`MemoryWindow.rows`, under a shared lock of the file."""
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
        """Forget every customer held, for every worker."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._write_header(b"", 0, 0, 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close this process's descriptor (the file stays for the other workers)."""
        os.close(self._fd)
