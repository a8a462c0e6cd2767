"""What sharing state between workers costs per request (docs/operations.md, workers and replicas).

    .venv/bin/python bench/shared_state.py

Per call, median of 5 runs: recording one request's HTTP metrics and one 8-customer assign's
metrics, in one process and in prometheus-client's multiprocess mode (files in a temporary
directory, as app.serve sets up for several workers), and adding 8 customers to the drift
window in memory and in the shared file (the ring buffer's write, what a flush does, and
``DriftMonitor.record``, which with several workers only keeps them for the next flush).
With several workers metric values are written in batches (app.batched). Multiprocess mode is chosen when prometheus-client
is imported, so each mode runs in its own interpreter.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
from types import SimpleNamespace

RUNS = 5


def measure() -> None:
    import numpy as np

    from shopper_segments.app.batched import flush_values
    from shopper_segments.app.drift import DriftMonitor
    from shopper_segments.app.drift_window import FileWindow, MemoryWindow
    from shopper_segments.app.metrics import Metrics

    metrics = Metrics()
    ids, names, features = list(range(5)), [f"s{i}" for i in range(5)], [f"f{j}" for j in range(9)]
    labels = np.arange(8) % 5
    below, above = np.zeros((8, 9), bool), np.zeros((8, 9), bool)
    above[0, 3] = True
    X = np.random.default_rng(0).random((8, 9))
    window = (
        MemoryWindow(10_000)
        if metrics.shared_dir is None
        else FileWindow(10_000, metrics.shared_dir / "drift.window")
    )
    monitor = DriftMonitor(10_000, 0.2, 1, metrics.shared_dir)
    ref = SimpleNamespace(version="v1")

    def us(fn: object, number: int) -> float:
        return statistics.median(timeit.repeat(fn, number=number, repeat=RUNS)) / number * 1e6  # type: ignore[arg-type]

    mode = "one process" if metrics.shared_dir is None else "several workers"
    request = us(lambda: metrics.observe_request("POST", "/v1/assign", 200, 0.001), 20_000)
    assign = us(lambda: metrics.observe_assign(ids, names, labels, below, above, features), 5_000)
    drift = us(lambda: window.add("v1", X, labels), 5_000)
    record = us(lambda: monitor.record(ref, X, labels), 5_000)  # type: ignore[arg-type]
    write = us(flush_values, 5_000) if metrics.shared_dir is not None else 0.0
    monitor.close()
    print(
        f"{mode:16} observe_request {request:6.1f} us  observe_assign {assign:6.1f} us  "
        f"drift window add {drift:6.1f} us  drift record {record:6.1f} us  "
        f"(a flush of values, every 0.1 s: {write:.1f} us)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        measure()
        return
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    subprocess.run([sys.executable, __file__, "--measure"], env=env, check=True)
    with tempfile.TemporaryDirectory() as shared:
        env["PROMETHEUS_MULTIPROC_DIR"] = shared
        subprocess.run([sys.executable, __file__, "--measure"], env=env, check=True, cwd=Path.cwd())


if __name__ == "__main__":
    main()
