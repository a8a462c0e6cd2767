"""CPU per request of an ASGI app called in process (no sockets, no HTTP parsing).

    .venv/bin/python bench/asgi_cost.py [ours|starlette_fixed|fastapi_async|fastapi_sync] [--customers 1]
        [--concurrent 16] [--parts] 2>log.jsonl

Posts the bench body (``loadtest.history_body``) to ``/v1/assign`` through the whole app
(our middleware, routing, the handler) and prints the median CPU time per request over five
blocks (``time.process_time``: what this process used, so it holds better than wall time on a
shared machine). Useful with ``py-spy record -- .venv/bin/python bench/asgi_cost.py ours``.
``--parts`` (ours): also the wall time per request of the request's main parts, each timed
with ``perf_counter`` around its function (so the whole is a little slower than without).
"""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH), str(BENCH / "floors")]

import loadtest  # noqa: E402

MODEL = ROOT / "models" / "online-retail"


def build(which: str) -> Any:
    """The ASGI app: ours (bundled model, JSON logs to stderr) or a floor module's ``app``."""
    if which != "ours":
        return __import__(which).app
    model_dir = MODEL / (MODEL / "LATEST").read_text().strip()
    os.environ.setdefault("SEGMENTS_MODEL_DIR", str(model_dir))
    os.environ.setdefault("SEGMENTS_MODEL_ROOT", str(MODEL.parent))
    from shopper_segments.app.logs import log_config
    from shopper_segments.app.main import create_app

    logging.config.dictConfig(log_config("info"))
    return create_app()


def warm_up_rounds(n: int, concurrent: int) -> int:
    return max(min(n, 300) // concurrent, 1)


def requests_made(n: int, concurrent: int) -> int:
    """All the requests :func:`measure` makes: the warm-up's and the five blocks'."""
    return (warm_up_rounds(n, concurrent) + 5 * max(n // 5 // concurrent, 1)) * concurrent


async def measure(app: Any, body: bytes, n: int, concurrent: int = 1) -> float:
    """Median CPU seconds per request over five blocks of ``n // 5`` requests, after a warm-up.

    ``concurrent`` requests are in flight at once (as wrk's connections: a busy service's
    micro-batches), each block made of rounds of that many.
    """
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def lifespan_send(message: dict[str, Any]) -> None:
        started.set()

    asyncio.get_running_loop().create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, startup.get, lifespan_send)
    )
    await started.wait()
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
    ]
    statuses: list[int] = []

    async def one() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:  # the answer is out: wait as a client that keeps the connection would
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/assign", "raw_path": b"/v1/assign", "query_string": b"",
                 "root_path": "", "headers": list(headers), "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80)}  # fmt: skip
        await app(scope, receive, send)

    async def together() -> None:
        if concurrent == 1:
            await one()
        else:
            await asyncio.gather(*(one() for _ in range(concurrent)))

    rounds = max(n // 5 // concurrent, 1)
    for _ in range(warm_up_rounds(n, concurrent)):
        await together()
    if set(statuses) != {200}:
        raise RuntimeError(f"answers other than 200: {sorted(set(statuses))}")
    samples = []
    for _ in range(5):
        began = time.process_time()
        for _ in range(rounds):
            await together()
        samples.append((time.process_time() - began) / (rounds * concurrent))
    return statistics.median(samples)


#: (module, function, what it is) timed by --parts; the batch's parts are called by answer_requests.
PARTS = [
    ("shopper_segments.app.routes.assign", "asked_of", "the parse (shape, msgspec, validators)"),
    ("shopper_segments.app.microbatch", "answer_requests", "the micro-batch, all of it"),
    ("shopper_segments.app.microbatch", "assign_customers", "  rules, features, nearest centroid, outcomes"),
    ("shopper_segments.app.microbatch", "answers", "  the answers' dicts"),
    ("shopper_segments.app.microbatch", "record", "  segment metrics and drift window"),
    ("shopper_segments.app.hotpath", "record_access", "the access line and HTTP metrics"),
]


def time_parts() -> dict[str, float]:
    """Wrap each of :data:`PARTS` where it is called from; their seconds add up in the result."""
    import importlib

    spent = dict.fromkeys((what for _, _, what in PARTS), 0.0)
    for module_name, name, what in PARTS:
        module = importlib.import_module(module_name)
        inner = getattr(module, name)

        def timed(*args: Any, _inner: Any = inner, _what: str = what, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                spent[_what] += time.perf_counter() - began

        setattr(module, name, timed)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=["ours", "starlette_fixed", "fastapi_async", "fastapi_sync"])
    parser.add_argument("--customers", type=int, default=1, help="customers (10 lines each) per request")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrent", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--parts", action="store_true", help="ours: the time of each main part too")
    args = parser.parse_args()
    body = loadtest.history_body(args.customers)
    app = build(args.app)
    spent = time_parts() if args.parts and args.app == "ours" else {}
    seconds = asyncio.run(measure(app, body, args.requests, args.concurrent))
    print(
        f"{args.app}: {seconds * 1e6:,.1f} us of CPU per request ({args.customers} customer(s) x 10 lines, "
        f"{args.concurrent} at once)"
    )
    requests = requests_made(args.requests, args.concurrent)
    for what, total in spent.items():
        print(f"{what}: {total / requests * 1e6:,.1f} us per request")


if __name__ == "__main__":
    main()
