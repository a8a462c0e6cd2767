"""The workers' shared state written in batches: metric values and the drift window.

With several workers every metric value lives in a memory-mapped file per worker
(prometheus-client's multiprocess mode, summed at each scrape) and the drift window in one
file under ``flock`` (:mod:`app.drift_window`). Writing both on every request cost ~33 us of
a one-customer answer (~10% of its CPU, what kept two workers under 1.7x one). Here a
worker's counters add up in its own memory and the drift customers wait in a list; a
:class:`Flusher` thread writes what changed every :data:`FLUSH_S`, and a worker flushes its
own before it answers a scrape or a drift report. So any answer counts every request of the
worker that gives it, and the other workers' requests up to :data:`FLUSH_S` ago. A worker
killed with SIGKILL loses at most its last :data:`FLUSH_S` of counts (a SIGTERM flushes).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client.mmap_dict import MmapedDict, mmap_key

#: Seconds between two writes of a worker's shared state.
FLUSH_S = 0.1

# One lock for every value of this process: the mmap'd files are not thread-safe.
_LOCK = threading.Lock()
_FILES: dict[str, MmapedDict] = {}
_DIRTY: set[BufferedValue] = set()


class BufferedValue:
    """A metric value of a multi-worker server: in memory, written to its file by :func:`flush_values`.

    A drop-in for prometheus-client's ``MmapedValue`` (the same files, names and keys, so its
    ``MultiProcessCollector`` and ``mark_process_dead`` read them as theirs). Increments wait
    for the next flush; ``set`` (gauges: a worker's model version, seldom) is written at once.
    """

    _multiprocess = True

    def __init__(
        self,
        typ: str,
        metric_name: str,
        name: str,
        labelnames: list[str],
        labelvalues: list[str],
        help_text: str,
        multiprocess_mode: str = "",
        **_: Any,
    ) -> None:
        prefix = f"{typ}_{multiprocess_mode}" if typ == "gauge" else typ
        path = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], f"{prefix}_{os.getpid()}.db")
        with _LOCK:
            file = _FILES.get(path)
            if file is None:
                file = _FILES[path] = MmapedDict(path)
            self._file = file
            self._key = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
            self._value, self._timestamp = file.read_value(self._key)

    def inc(self, amount: float) -> None:
        with _LOCK:
            self._value += amount
            _DIRTY.add(self)

    def set(self, value: float, timestamp: float | None = None) -> None:
        with _LOCK:
            self._value, self._timestamp = value, timestamp or 0.0
            self._file.write_value(self._key, self._value, self._timestamp)

    def get(self) -> float:
        with _LOCK:
            return self._value

    def set_exemplar(self, exemplar: Any) -> None:
        return  # not in multiprocess mode (as prometheus-client)

    def get_exemplar(self) -> None:
        return None


def flush_values() -> None:
    """Write every value changed since the last flush to this worker's files."""
    with _LOCK:
        for value in _DIRTY:
            value._file.write_value(value._key, value._value, value._timestamp)
        _DIRTY.clear()


def close_files() -> None:
    """Flush, then close this worker's files (at shutdown; the files stay for the scrapes)."""
    flush_values()
    with _LOCK:
        for file in _FILES.values():
            file.close()
        _FILES.clear()


class Flusher:
    """A daemon thread that calls ``flush`` every :data:`FLUSH_S` until stopped (then once more)."""

    def __init__(self, flush: Callable[[], None], interval_s: float = FLUSH_S) -> None:
        self.flush, self.interval_s = flush, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="segments-flusher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()
