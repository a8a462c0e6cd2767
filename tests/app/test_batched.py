"""The workers' shared metric values written in batches (app.batched)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector

from shopper_segments.app import batched
from shopper_segments.app.batched import BufferedValue, Flusher, close_files, flush_values


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A worker's view: PROMETHEUS_MULTIPROC_DIR set, every new value a BufferedValue."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", BufferedValue)
    yield tmp_path
    close_files()


def scraped(directory: Path) -> dict[str, float]:
    """What a scrape by any worker reads: the files of every worker, summed."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(directory))
    return {s.name: s.value for family in registry.collect() for s in family.samples}


def test_increments_reach_the_files_at_the_flush(shared: Path) -> None:
    registry = CollectorRegistry()
    requests = Counter("requests", "requests", registry=registry)
    sizes = Histogram("sizes", "sizes", buckets=(1, 10), registry=registry)
    for _ in range(5):
        requests.inc()
        sizes.observe(3)
    assert requests._value.get() == 5  # this worker knows at once
    assert scraped(shared).get("requests_total", 0.0) == 0.0  # the others, after its flush
    flush_values()
    after = scraped(shared)
    assert after["requests_total"] == 5
    assert after["sizes_count"] == 5 and after["sizes_sum"] == 15
    assert after["sizes_bucket"] == 5  # the last bucket (+Inf) read last
    requests.inc(2)
    flush_values()
    assert scraped(shared)["requests_total"] == 7


def test_close_writes_what_waits(shared: Path) -> None:
    requests = Counter("closing", "requests", registry=CollectorRegistry())
    requests.inc(3)
    close_files()
    assert scraped(shared)["closing_total"] == 3
    assert not batched._FILES


def test_flusher_flushes_every_interval_and_once_at_stop() -> None:
    calls = threading.Semaphore(0)
    count = 0

    def flush() -> None:
        nonlocal count
        count += 1
        calls.release()

    flusher = Flusher(flush, interval_s=0.01)
    flusher.start()
    assert calls.acquire(timeout=5) and calls.acquire(timeout=5)  # two periodic flushes
    flusher.stop()
    stopped = count
    assert not flusher._thread.is_alive() and stopped >= 3  # the last one at stop
