"""Hostile soak: valid requests mixed with the hostile catalogue, on one real server (loopback).

    .venv/bin/python bench/soak.py [--seconds 60] [--concurrency 32] [--hostile-share 0.25]

Starts ``python -m app.serve`` on the bundled model, warms it up, reads its RSS, then runs
``concurrency`` clients for ``seconds``: each sends a valid one-customer request, or with
probability ``hostile-share`` a request of ``tests/app/test_hostile.CATALOGUE``. Prints
(and writes to bench/results/) the valid requests' statuses and latency percentiles, the
hostile answers' statuses, and the server's RSS before, right after and 10 s after the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.loadtest import free_port, wait_ready  # noqa: E402
from tests.app.test_hostile import CATALOGUE  # noqa: E402

VALID = {
    "as_of": "2011-12-10T00:00:00Z",
    "customers": [
        {
            "customer_id": "12347",
            "transactions": [
                {
                    "order_id": f"o{i}",
                    "timestamp": f"2011-0{1 + i % 9}-01T10:00:00",
                    "quantity": 2,
                    "unit_price": 3.5,
                }
                for i in range(10)
            ],
        }
    ],
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--hostile-share", type=float, default=0.25)
    parser.add_argument("--only", default="", help="only catalogue entries whose name holds this text")
    args = parser.parse_args()
    # built once: the client's cost
    hostile = [(name, build()) for name, build, _, _ in CATALOGUE if args.only.lower() in name.lower()]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shopper_segments.app.serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "SEGMENTS_BODY_TIMEOUT_S": "60"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/readyz", proc)
        with httpx.Client(base_url=url) as client:
            for _ in range(300):
                client.post("/v1/assign", json=VALID)
        time.sleep(1)
        before = rss_mb(proc.pid)
        valid_ms: list[float] = []
        valid_status: Counter[int] = Counter()
        hostile_status: Counter[str] = Counter()
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds

        def client_loop(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(base_url=url, timeout=120) as client:
                while time.monotonic() < deadline:
                    if rng.random() < args.hostile_share:
                        _name, (params, headers, body) = rng.choice(hostile)
                        r = client.post("/v1/assign", params=params, headers=headers, content=body)
                        with lock:
                            hostile_status[f"{r.status_code}"] += 1
                    else:
                        started = time.perf_counter()
                        r = client.post("/v1/assign", json=VALID)
                        with lock:
                            valid_ms.append((time.perf_counter() - started) * 1000)
                            valid_status[r.status_code] += 1

        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        right_after = rss_mb(proc.pid)
        time.sleep(10)
        after = rss_mb(proc.pid)
        valid_ms.sort()

        def pct(p: float) -> float:
            return valid_ms[min(len(valid_ms) - 1, int(p * len(valid_ms)))] if valid_ms else float("nan")

        result: dict[str, Any] = {
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "hostile_share": args.hostile_share,
            "valid_requests": sum(valid_status.values()),
            "valid_statuses": dict(valid_status),
            "valid_p50_ms": round(pct(0.50), 1),
            "valid_p99_ms": round(pct(0.99), 1),
            "hostile_requests": sum(hostile_status.values()),
            "hostile_statuses": dict(hostile_status),
            "rss_mb_before": round(before, 1),
            "rss_mb_right_after": round(right_after, 1),
            "rss_mb_10s_after": round(after, 1),
            "rss_change_pct": round((after - before) / before * 100, 1),
            "server_alive": proc.poll() is None,
        }
        print(json.dumps(result, indent=1))
        out = BENCH / "results" / f"{time.strftime('%Y-%m-%d-%H%M')}-hostile-soak.json"
        out.write_text(json.dumps(result, indent=1) + "\n")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
