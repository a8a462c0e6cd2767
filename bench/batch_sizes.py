"""How many requests a busy worker's micro-batches hold (app.microbatch), under wrk.

    .venv/bin/python bench/batch_sizes.py [--connections 16 64] [--seconds 8]

Starts one worker of the service (bundled model, as ``bench/serving.py`` does) with
``answer_requests`` counting the requests of each batch, posts one customer with 10 lines
with ``wrk -t1 -cN`` for each N, and prints the distribution of batch sizes per N.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import loadtest  # noqa: E402
import serving  # noqa: E402


def serve_counting(out: Path, argv: list[str]) -> None:
    """Run the service with every batch's size counted; the counts written to ``out`` on SIGUSR1."""
    from shopper_segments.app import microbatch, serve

    sizes: collections.Counter[int] = collections.Counter()
    answer_requests = microbatch.answer_requests

    def counting(state: object, asked: list[microbatch.Asked]) -> object:
        sizes[len(asked)] += 1
        return answer_requests(state, asked)

    def dump(*_: object) -> None:
        part = out.with_suffix(".part")
        part.write_text(json.dumps(sizes))
        part.replace(out)

    microbatch.answer_requests = counting  # type: ignore[assignment]
    signal.signal(signal.SIGUSR1, dump)
    serve.main(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--serve", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve_counting(args.out, args.serve)
        return
    model_dir = serving.MODEL / (serving.MODEL / "LATEST").read_text().strip()
    env = {
        **os.environ,
        "SEGMENTS_MODEL_DIR": str(model_dir),
        "SEGMENTS_MODEL_ROOT": str(serving.MODEL.parent),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        body = work / "one.json"
        body.write_bytes(loadtest.history_body(1))
        port = loadtest.free_port()
        counts = work / "counts.json"
        serve_args = serving.command("ours_1w", port)[3:]  # after "python -m shopper_segments.app.serve"
        with (work / "server.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, __file__, "--out", str(counts), "--serve", *serve_args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            loadtest.wait_ready(f"http://127.0.0.1:{port}/readyz", proc)

            def read() -> collections.Counter[int]:
                counts.unlink(missing_ok=True)
                proc.send_signal(signal.SIGUSR1)
                while not counts.exists():
                    time.sleep(0.01)
                return collections.Counter({int(k): v for k, v in json.loads(counts.read_text()).items()})

            for c in args.connections:
                loadtest.wrk(f"http://127.0.0.1:{port}/v1/assign", body, c, 2)  # warm-up
                before = read()
                res = loadtest.wrk(f"http://127.0.0.1:{port}/v1/assign", body, c, args.seconds)
                run = read() - before
                batches, requests = run.total(), sum(k * v for k, v in run.items())
                common = ", ".join(f"{k}: {v / batches:.0%}" for k, v in run.most_common(4))
                print(
                    f"c={c}: {res['rps']:,.0f} req/s; {batches:,} batches of {requests / batches:.1f} "
                    f"requests on average (the most common sizes: {common})"
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
