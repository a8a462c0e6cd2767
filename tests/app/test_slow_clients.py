"""Slow clients on a real process (``python -m app.serve``): header, body and shutdown deadlines.

The deadlines are set to 1 s here. A stalled connection is closed (headers) or answered 408
(body) within its deadline plus a margin, /healthz answers promptly meanwhile, and SIGTERM
with an upload stalled in flight exits within the shutdown deadline.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.app.test_shutdown import start_post
from tests.conftest import Server, start_server, stop_server

DEADLINE_S = 1.0
MARGIN_S = 2.0  # a loaded machine; far below the defaults (10 s, 30 s) these stand for


@pytest.fixture(scope="module")
def server(sample_model: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path, _ = sample_model
    log = tmp_path_factory.mktemp("slow") / "server.log"
    server = start_server(
        path.parent.parent,
        path,
        log,
        SEGMENTS_HEADER_TIMEOUT_S=str(DEADLINE_S),
        SEGMENTS_BODY_TIMEOUT_S=str(DEADLINE_S),
    )
    yield server
    stop_server(server)


def address(server: Server) -> tuple[str, int]:
    url = urlsplit(server.url)
    return url.hostname or "127.0.0.1", url.port or 80


def read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """All the server sends until it closes the connection, and when it closed (seconds from now)."""
    started = time.monotonic()
    sock.settimeout(limit_s)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received, time.monotonic() - started


def trickle(sock: socket.socket, stop: threading.Event) -> None:
    """One body byte a second until the server closes or the test ends."""
    while not stop.is_set():
        try:
            sock.sendall(b" ")
        except OSError:
            return
        stop.wait(1.0)


def slow_upload(server: Server, content_type: str) -> socket.socket:
    sock = socket.create_connection(address(server))
    sock.sendall(
        b"POST /v1/assign HTTP/1.1\r\nHost: x\r\nContent-Type: "
        + content_type.encode()
        + b"\r\nContent-Length: 100000\r\n\r\n"
    )
    return sock


def test_silent_connection_is_closed_within_the_header_deadline(server: Server) -> None:
    with socket.create_connection(address(server)) as sock:
        received, seconds = read_until_closed(sock, DEADLINE_S + MARGIN_S + 5)
    assert received == b""  # nothing was asked: nothing is answered
    assert DEADLINE_S - 0.2 <= seconds <= DEADLINE_S + MARGIN_S


def test_unfinished_headers_get_408_and_close_within_the_header_deadline(server: Server) -> None:
    with socket.create_connection(address(server)) as sock:
        sock.sendall(b"POST /v1/assign HTTP/1.1\r\nHost: x\r\n")
        received, seconds = read_until_closed(sock, DEADLINE_S + MARGIN_S + 5)
    assert DEADLINE_S - 0.2 <= seconds <= DEADLINE_S + MARGIN_S
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 408


def test_a_later_request_with_unfinished_headers_gets_408_on_a_kept_alive_connection(server: Server) -> None:
    """The deadline counts from the request's first byte (a timer armed once a read leaves it unfinished)."""
    with socket.create_connection(address(server)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # head and body in one write
        time.sleep(0.5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        received, seconds = read_until_closed(sock, DEADLINE_S + MARGIN_S + 5)
    assert DEADLINE_S - 0.2 <= seconds <= DEADLINE_S + MARGIN_S
    assert received.startswith(b"HTTP/1.1 408 ")


def test_idle_keep_alive_connection_is_not_cut_by_the_header_deadline(server: Server) -> None:
    """Between requests uvicorn's keep-alive timeout (75 s) applies, not the header deadline."""
    conn = http.client.HTTPConnection(*address(server), timeout=10)  # never reconnects by itself
    try:
        for _ in range(2):
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            time.sleep(DEADLINE_S + 0.5)
    finally:
        conn.close()


@pytest.mark.parametrize("content_type", ["application/json", "text/csv"])
def test_body_at_one_byte_a_second_gets_408_within_the_body_deadline(
    server: Server, content_type: str
) -> None:
    stop = threading.Event()
    with slow_upload(server, content_type) as sock:
        sender = threading.Thread(target=trickle, args=(sock, stop), daemon=True)
        sender.start()
        try:
            received, seconds = read_until_closed(sock, DEADLINE_S + MARGIN_S + 5)
        finally:
            stop.set()
            sender.join()
    assert seconds <= DEADLINE_S + MARGIN_S
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received
    assert b"connection: close" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 408 and problem["errors"][0]["field"] == "body"


def test_health_answers_promptly_while_clients_stall(server: Server) -> None:
    stop = threading.Event()
    silent = socket.create_connection(address(server))
    partial = socket.create_connection(address(server))
    partial.sendall(b"POST /v1/assign HTTP/1.1\r\nHost: x\r\n")
    uploads = [slow_upload(server, "application/json") for _ in range(3)]
    senders = [threading.Thread(target=trickle, args=(s, stop), daemon=True) for s in uploads]
    for sender in senders:
        sender.start()
    try:
        time.sleep(DEADLINE_S / 2)  # all of them stalled now
        with httpx.Client(base_url=server.url) as client:
            for _ in range(5):
                started = time.monotonic()
                assert client.get("/healthz", timeout=5).status_code == 200
                assert time.monotonic() - started < 0.5
    finally:
        stop.set()
        for sender in senders:
            sender.join()
        for sock in [silent, partial, *uploads]:
            sock.close()


def test_sigterm_with_a_stalled_upload_exits_within_the_shutdown_deadline(
    sample_model: tuple[Path, dict], tmp_path: Path
) -> None:
    path, _ = sample_model
    server = start_server(
        path.parent.parent,
        path,
        tmp_path / "server.log",
        SEGMENTS_SHUTDOWN_TIMEOUT_S=str(DEADLINE_S),
        SEGMENTS_BODY_TIMEOUT_S="600",  # the upload stays stalled: only the shutdown deadline ends it
    )
    conn = None
    try:
        conn = start_post(address(server), 100_000)  # the app is reading its body (100 Continue)
        conn.send(b'{"customers": [')
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(timeout=DEADLINE_S + MARGIN_S + 10)
        assert time.monotonic() - started <= DEADLINE_S + MARGIN_S
        assert code in (0, -signal.SIGTERM)
        log = server.log.read_text()
        assert "timeout graceful shutdown exceeded" in log
        assert all(json.loads(line) for line in log.splitlines() if line.strip())
    finally:
        if conn is not None:
            conn.close()
        stop_server(server)
