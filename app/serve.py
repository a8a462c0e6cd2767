"""Start the service: ``python -m app.serve --host 0.0.0.0 --port 8000`` (what ``make serve`` runs).

uvicorn as its CLI would run it (``--factory app.main:create_app``), plus what the CLI can't
set: the request-header deadline (:class:`app.deadlines.HeaderDeadlineProtocol`), the graceful
shutdown deadline (``SEGMENTS_SHUTDOWN_TIMEOUT_S``) and JSON-line logs for uvicorn's own loggers.
Host, port and workers also come from ``SEGMENTS_HOST``, ``SEGMENTS_PORT``, ``SEGMENTS_WORKERS``;
workers default to the CPUs this process may run on.

With more than one worker the workers share a fresh temporary directory, named to them by
``PROMETHEUS_MULTIPROC_DIR`` before they start and removed when the server exits: their
metrics files (summed at every scrape), the drift window and admin reload requests.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile

import uvicorn
from uvicorn.supervisors import Multiprocess

from shopper_segments.app.config import get_settings
from shopper_segments.app.deadlines import HeaderDeadlineProtocol
from shopper_segments.app.logs import log_config
from shopper_segments.app.metrics import MULTIPROC_ENV


def cpu_count() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover  # not Linux
        return os.cpu_count() or 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m app.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=env("SEGMENTS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("SEGMENTS_PORT", "8000")))
    parser.add_argument(
        "--workers",
        type=int,
        default=int(env("SEGMENTS_WORKERS", "") or cpu_count()),
        help="worker processes (default: SEGMENTS_WORKERS, else one per CPU)",
    )
    parser.add_argument("--timeout-keep-alive", type=int, default=75, help="seconds (README, Performance)")
    parser.add_argument("--loop", choices=["asyncio", "uvloop", "auto"], default="asyncio")
    parser.add_argument(
        "--app", default="shopper_segments.app.main:create_app", help=argparse.SUPPRESS
    )  # tests' own factory
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> uvicorn.Config:
    settings = get_settings()
    return uvicorn.Config(
        app=args.app,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop=args.loop,
        http=HeaderDeadlineProtocol,
        timeout_keep_alive=args.timeout_keep_alive,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,  # type: ignore[arg-type]  # float is fine
        log_config=log_config(settings.log_level),
        access_log=False,  # segments.access (app.logs.AccessMiddleware) is the access log
    )


def main(argv: list[str] | None = None) -> None:
    config = build_config(parse_args(argv))  # configures logging
    logging.captureWarnings(True)
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            run_workers(config)
        else:
            server.run()
    except KeyboardInterrupt:  # pragma: no cover
        pass
    if config.workers == 1 and not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE


def run_workers(config: uvicorn.Config) -> None:
    """Run ``config.workers`` worker processes that share one fresh directory (see above)."""
    parent = os.environ.get(MULTIPROC_ENV) or None  # an operator's choice of where: honoured
    shared = tempfile.mkdtemp(prefix="segments-workers-", dir=parent)
    os.environ[MULTIPROC_ENV] = shared  # the spawned workers inherit it
    try:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
        if parent is None:
            del os.environ[MULTIPROC_ENV]
        else:
            os.environ[MULTIPROC_ENV] = parent


if __name__ == "__main__":
    main()
