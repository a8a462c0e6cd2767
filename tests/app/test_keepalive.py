"""Idle kept-alive connections are closed by one sweep per server, after the keep-alive timeout.

The sweep's logic on a fake loop (deterministic), then a real process run with
``--timeout-keep-alive 1``: a connection in use stays open, an idle one (after one request or
after pipelined ones) is closed within the timeout plus one sweep period and a margin.
"""

from __future__ import annotations

import inspect
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shopper_segments.app.keepalive import SWEEP_S, IdleSweep, sweep_period
from tests.app.test_slow_clients import address, read_until_closed
from tests.conftest import Server, start_server, stop_server

TIMEOUT_S = 1
MARGIN_S = 2.0  # a loaded machine


class FakeLoop:
    """The loop time is set by hand; ``call_later`` is recorded, never run."""

    def __init__(self) -> None:
        self.now = 0.0
        self.scheduled: list[tuple[float, Any]] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Any) -> str:
        self.scheduled.append((delay, callback))
        return "handle"


class Conn:
    def __init__(self, idle_since: float | None) -> None:
        self.idle_since = idle_since
        self.closed = 0

    def timeout_keep_alive_handler(self) -> None:
        self.closed += 1


def test_sweep_period_is_a_quarter_of_the_timeout_at_most_a_second() -> None:
    assert sweep_period(75) == SWEEP_S == 1.0
    assert sweep_period(1) == 0.25


def test_a_sweep_closes_only_connections_idle_for_the_timeout() -> None:
    loop = FakeLoop()
    idle_long, idle_short, busy = Conn(idle_since=4.0), Conn(idle_since=6.0), Conn(idle_since=None)
    connections = {idle_long, idle_short, busy}
    sweep = IdleSweep(connections, loop, timeout_s=5.0)  # type: ignore[arg-type]
    sweep.start()
    sweep.start()  # already on its way: not twice
    assert [delay for delay, _ in loop.scheduled] == [1.0]
    loop.now = 9.5
    sweep.sweep()
    assert (idle_long.closed, idle_short.closed, busy.closed) == (1, 0, 0)
    assert idle_long.idle_since is None  # closed once, not again at the next sweep
    assert len(loop.scheduled) == 2  # connections remain: it comes back
    loop.now = 11.0
    connections.discard(idle_long)
    sweep.sweep()
    assert (idle_long.closed, idle_short.closed, busy.closed) == (1, 1, 0)
    connections.clear()
    sweep.sweep()
    assert len(loop.scheduled) == 3  # no connection left: it stops (a new one starts it again)
    sweep.start()
    assert len(loop.scheduled) == 4


@pytest.fixture(scope="module")
def server(sample_model: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path, _ = sample_model
    log = tmp_path_factory.mktemp("keepalive") / "server.log"
    server = start_server(path.parent.parent, path, log, args=["--timeout-keep-alive", str(TIMEOUT_S)])
    yield server
    stop_server(server)


def _get(sock: socket.socket, times: int = 1) -> bytes:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * times)
    received = b""
    while received.count(b"HTTP/1.1 200") < times or not received.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, f"closed after {received!r}"
        received += chunk
    return received


def test_a_connection_in_use_stays_open_and_an_idle_one_is_closed_after_the_timeout(server: Server) -> None:
    with socket.create_connection(address(server), timeout=10) as sock:
        for _ in range(3):  # requests closer together than the timeout: the connection stays open
            _get(sock)
            time.sleep(TIMEOUT_S * 0.6)
        _get(sock)
        received, seconds = read_until_closed(sock, TIMEOUT_S + MARGIN_S + 5)
    assert received == b""
    assert TIMEOUT_S - 0.05 <= seconds <= TIMEOUT_S + sweep_period(TIMEOUT_S) + MARGIN_S


def test_pipelined_requests_are_answered_then_the_connection_idles_out(server: Server) -> None:
    with socket.create_connection(address(server), timeout=10) as sock:
        assert _get(sock, times=3).count(b"HTTP/1.1 200") == 3
        received, seconds = read_until_closed(sock, TIMEOUT_S + MARGIN_S + 5)
    assert received == b""
    assert TIMEOUT_S - 0.05 <= seconds <= TIMEOUT_S + sweep_period(TIMEOUT_S) + MARGIN_S


def test_many_idle_connections_are_all_closed_and_the_server_still_answers(server: Server) -> None:
    socks = [socket.create_connection(address(server), timeout=10) for _ in range(20)]
    try:
        for sock in socks:
            _get(sock)
        time.sleep(TIMEOUT_S + sweep_period(TIMEOUT_S) + 0.5)
        for sock in socks:
            assert read_until_closed(sock, MARGIN_S)[0] == b""
    finally:
        for sock in socks:
            sock.close()
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200


def test_the_copied_response_end_matches_the_uvicorn_it_was_copied_from() -> None:
    """SweptKeepAlive.on_response_complete is uvicorn 0.54's without the timer: a new uvicorn
    (a lock file update) must be read again before this passes."""
    source = inspect.getsource(HttpToolsProtocol.on_response_complete)
    assert uvicorn.__version__ == "0.54.0"
    for step in ("total_requests += 1", "is_closing()", "resume_reading()", "self.pipeline.pop()"):
        assert step in source  # what ours does too
    assert "call_later(" in source and "self.timeout_keep_alive_handler" in source  # what ours replaces
