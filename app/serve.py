"""Start the service: ``python -m shopper_segments.app.serve --port 8000`` (what ``make serve`` runs).

uvicorn as its CLI would run it (``--factory app.main:create_app``), plus what the CLI can't
set: the request-header deadline, the keep-alive timeout kept by one sweep and one write per response
(:class:`app.writes.ServiceProtocol`),
the graceful shutdown deadline (``SEGMENTS_SHUTDOWN_TIMEOUT_S``) and JSON-line logs for uvicorn's own loggers.
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
import socket
import sys
import tempfile
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from shopper_segments.app.config import get_settings
from shopper_segments.app.logs import log_config
from shopper_segments.app.metrics import MULTIPROC_ENV
from shopper_segments.app.writes import ServiceProtocol


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
        http=ServiceProtocol,
        timeout_keep_alive=args.timeout_keep_alive,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,  # type: ignore[arg-type]  # float is fine
        log_config=log_config(settings.log_level),
        access_log=False,  # segments.access (app.access.AccessMiddleware) is the access log
        server_header=False,  # no "server: uvicorn" on every answer: one header less to send, nothing told
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


def shared_socket(config: uvicorn.Config) -> socket.socket:
    """The listening socket the workers share, with ``TCP_NODELAY`` set on it (TCP only).

    uvicorn creates it with protocol 0, so asyncio never sets ``TCP_NODELAY`` on the
    connections it accepts; set on the listening socket, Linux copies it to each of them.
    Without it a small answer waits for the client's delayed ACK (about 40 ms).
    """
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def listen_reuseport(family: int, address: tuple[Any, ...], backlog: int) -> socket.socket:
    """A listening TCP socket of this process on ``address``, in the port's ``SO_REUSEPORT`` group."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see shared_socket
    sock.bind(address)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class PerWorkerListener(socket.socket):
    """Bound in the parent (so a port in use fails at once), never listening there: each
    worker that unpickles it gets a listening socket of its own on the same address.

    With one socket shared, the worker that wakes first accepts every waiting connection
    (asyncio accepts up to the backlog per wake-up), so 64 connections opened at once could
    all land on one worker and stay there; Linux spreads the connections of an
    ``SO_REUSEPORT`` group over its listeners by a hash of their addresses.
    """

    backlog = 2048

    def __reduce__(self) -> tuple[Any, ...]:
        return listen_reuseport, (self.family, self.getsockname(), self.backlog)


def worker_sockets(config: uvicorn.Config) -> list[socket.socket]:
    """What the workers listen on: a listener each on TCP on Linux, else the one shared socket."""
    # Linux balances an SO_REUSEPORT group; other systems (BSDs, macOS) give one socket all.
    if config.uds or config.fd is not None or not sys.platform.startswith("linux"):
        return [shared_socket(config)]
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    placeholder = PerWorkerListener(family, socket.SOCK_STREAM)
    placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        placeholder.bind((config.host, config.port))
    except OSError:
        placeholder.close()
        raise
    placeholder.backlog = config.backlog
    return [placeholder]


def run_workers(config: uvicorn.Config) -> None:
    """Run ``config.workers`` worker processes that share one fresh directory (see above)."""
    parent = os.environ.get(MULTIPROC_ENV) or None  # an operator's choice of where: honoured
    shared = tempfile.mkdtemp(prefix="segments-workers-", dir=parent)
    os.environ[MULTIPROC_ENV] = shared  # the spawned workers inherit it
    try:
        Multiprocess(config, sockets=worker_sockets(config)).run()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
        if parent is None:
            del os.environ[MULTIPROC_ENV]
        else:
            os.environ[MULTIPROC_ENV] = parent


if __name__ == "__main__":
    main()
