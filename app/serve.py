"""Start the service: ``python -m app.serve --host 0.0.0.0 --port 8000`` (what ``make serve`` runs).

uvicorn as its CLI would run it (``--factory app.main:create_app``), plus what the CLI can't
set: the request-header deadline (:class:`app.deadlines.HeaderDeadlineProtocol`), the graceful
shutdown deadline (``SEGMENTS_SHUTDOWN_TIMEOUT_S``) and JSON-line logs for uvicorn's own loggers.
Host, port and workers also come from ``SEGMENTS_HOST``, ``SEGMENTS_PORT``, ``SEGMENTS_WORKERS``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess

from shopper_segments.app.config import get_settings
from shopper_segments.app.deadlines import HeaderDeadlineProtocol
from shopper_segments.app.logs import log_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m app.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=env("SEGMENTS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("SEGMENTS_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(env("SEGMENTS_WORKERS", "1")))
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
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:  # pragma: no cover
        pass
    if config.workers == 1 and not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE


if __name__ == "__main__":
    main()
