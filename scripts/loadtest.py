"""Bounded load test: a real uvicorn process on loopback, held at a steady concurrency.

Starts the service on a free 127.0.0.1 port with the bundled model, sends real customers'
histories (the bundled Online Retail sample) as a mix of single-customer and batch requests
from ``--concurrency`` concurrent clients, first for ``--warmup`` seconds, then for
``--duration`` seconds, and stops the server with SIGTERM. It reports requests, failures,
throughput, latency percentiles and the server's RSS after warm-up and after the run, and
exits 1 if any request failed or RSS grew by more than ``--max-rss-growth``.

    .venv/bin/python scripts/loadtest.py --concurrency 64 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.app.payloads import customers, read_online_retail  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "online_retail_sample.csv.gz"
AS_OF = "2011-12-10T00:00:00Z"  # the day after the sample's last purchase
# As `make serve` and the Dockerfile: keep-alive far above any event-loop stall, so the server
# never times out a connection whose next request is already waiting in the socket.
SERVE_OPTIONS = ["--timeout-keep-alive", "75", "--loop", "asyncio"]  # as `make serve`


@dataclass
class Phase:
    """What one phase of the run saw."""

    name: str
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"single": [], "batch": []})
    failures: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + len(self.failures)

    def summary(self) -> dict[str, Any]:
        every = [x for v in self.latencies.values() for x in v]
        out: dict[str, Any] = {
            "phase": self.name,
            "seconds": round(self.seconds, 1),
            "requests": self.requests,
            "failures": len(self.failures),
            "failure_examples": self.failures[:5],
            "rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
        }
        for kind, values in [("all", every), *self.latencies.items()]:
            if values:
                p50, p99 = np.percentile(np.asarray(values) * 1000, [50, 99])
                out[kind] = {"requests": len(values), "p50_ms": round(p50, 1), "p99_ms": round(p99, 1)}
        return out


def build_payloads(batch_size: int) -> tuple[list[bytes], list[bytes], list[int]]:
    """Single-customer bodies, batch bodies, and the customer count of each batch."""
    people = [
        c
        for c in customers(read_online_retail(SAMPLE)).values()
        if any(t["quantity"] > 0 for t in c["transactions"])
    ]
    singles = [orjson.dumps({"as_of": AS_OF, "customers": [c]}) for c in people]
    batches, sizes = [], []
    for start in range(0, len(people), batch_size // 2):
        group = (people + people)[start : start + batch_size]
        batches.append(orjson.dumps({"as_of": AS_OF, "customers": group}))
        sizes.append(len(group))
    return singles, batches, sizes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(
    model_root: Path, model_dir: Path, log: Path, extra: list[str]
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "SEGMENTS_MODEL_ROOT": str(model_root), "SEGMENTS_MODEL_DIR": str(model_dir)}
    command = [sys.executable, "-m", "uvicorn", "--factory", "shopper_segments.app.main:create_app"]
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), *SERVE_OPTIONS, *extra],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"uvicorn exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"uvicorn did not become ready:\n{log.read_text()}")


async def run_phase(
    client: httpx.AsyncClient,
    phase: Phase,
    seconds: float,
    concurrency: int,
    payloads: tuple[list[bytes], list[bytes], list[int]],
    batch_every: int,
) -> None:
    """``concurrency`` clients, each sending its next request as soon as the last one answered."""
    singles, batches, sizes = payloads
    counter = iter(range(10**12))
    begin = time.monotonic()
    deadline = begin + seconds

    async def one_client() -> None:
        while time.monotonic() < deadline:
            n = next(counter)
            if n % batch_every == batch_every - 1:
                kind, body, expected = "batch", batches[n % len(batches)], sizes[n % len(sizes)]
            else:
                kind, body, expected = "single", singles[n % len(singles)], 1
            started = time.perf_counter()
            at = f"t={time.monotonic() - begin:.1f}s {kind}"
            try:
                r = await client.post(
                    "/v1/assign", content=body, headers={"content-type": "application/json"}
                )
                elapsed = time.perf_counter() - started
                if r.status_code != 200:
                    phase.failures.append(f"{at}: HTTP {r.status_code} {r.text[:200]}")
                elif len(orjson.loads(r.content)["results"]) != expected:
                    phase.failures.append(f"{at}: wrong number of results")
                else:
                    phase.latencies[kind].append(elapsed)
            except httpx.HTTPError as exc:
                phase.failures.append(
                    f"{at}: {type(exc).__name__} {exc!r} after {time.perf_counter() - started:.2f}s"
                )

    started = time.monotonic()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    phase.seconds = time.monotonic() - started


async def load(args: argparse.Namespace, url: str, pid: int) -> dict[str, Any]:
    payloads = build_payloads(args.batch_size)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=args.timeout) as client:
        warm = Phase("warm-up")
        await run_phase(client, warm, args.warmup, args.concurrency, payloads, args.batch_every)
        rss_warm, cpu_warm, load_before = rss_mib(pid), cpu_seconds(pid), os.getloadavg()[0]
        client_warm = cpu_seconds(os.getpid())
        run = Phase("run")
        await run_phase(client, run, args.duration, args.concurrency, payloads, args.batch_every)
        rss_end, cpu_end, load_after = rss_mib(pid), cpu_seconds(pid), os.getloadavg()[0]
        client_cpu = cpu_seconds(os.getpid()) - client_warm
    return {
        "concurrency": args.concurrency,
        "mix": f"1 batch of {args.batch_size} customers per {args.batch_every} requests, the rest single",
        "customers": len(payloads[0]),
        "warmup": warm.summary(),
        "run": run.summary(),
        "rss_mib_after_warmup": round(rss_warm, 1),
        "rss_mib_after_run": round(rss_end, 1),
        "rss_growth": round(rss_end / rss_warm - 1, 4),
        # The machine may be shared: the server's own CPU per request and the load average
        # put the throughput in context.
        "server_cpu_seconds_in_run": round(cpu_end - cpu_warm, 1),
        "server_cpu_ms_per_request": round((cpu_end - cpu_warm) * 1000 / max(run.requests, 1), 1),
        "client_cpu_seconds_in_run": round(client_cpu, 1),
        "cpus": os.cpu_count(),
        "load_average_1m": [round(load_before, 1), round(load_after, 1)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the measured run")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of load before measuring")
    parser.add_argument("--batch-every", type=int, default=4, help="every n-th request is a batch")
    parser.add_argument("--batch-size", type=int, default=20, help="customers per batch request")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--model-root", type=Path, default=ROOT / "models")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "online-retail")
    parser.add_argument("--max-rss-growth", type=float, default=0.10)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--server-log", type=Path, help="keep the server's log here")
    parser.add_argument(
        "--uvicorn-arg",
        action="append",
        default=[],
        help="extra uvicorn option (repeatable), e.g. --uvicorn-arg=--timeout-keep-alive=30",
    )
    args = parser.parse_args(argv)
    if not (0 < args.duration <= 600 and 0 <= args.warmup <= 600 and 1 <= args.concurrency <= 1024):
        parser.error("duration must be in (0, 600] s, warmup in [0, 600] s, concurrency in [1, 1024]")
    with tempfile.TemporaryDirectory(prefix="loadtest-") as tmp:
        log = args.server_log or Path(tmp) / "uvicorn.log"
        proc, url = start_server(args.model_root, args.model_dir, log, args.uvicorn_arg)
        try:
            report = asyncio.run(load(args, url, proc.pid))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    ok = report["run"]["failures"] == 0 and report["warmup"]["failures"] == 0
    ok &= report["rss_growth"] <= args.max_rss_growth
    print("PASS" if ok else "FAIL", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
