"""Graceful shutdown of a real uvicorn process: on SIGTERM, requests in flight finish."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.app.payloads import customers, read_online_retail
from tests.conftest import SAMPLE, start_server, stop_server

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def start_post(address: tuple[str, int], length: int) -> http.client.HTTPConnection:
    """Send the headers of POST /v1/assign with ``Expect: 100-continue``; return once the app reads.

    uvicorn answers ``100 Continue`` only when the application asks for the body, so after it
    the request is in the service's hands: in flight, without any sleep to guess that.
    """
    conn = http.client.HTTPConnection(*address, timeout=120)
    conn.putrequest("POST", "/v1/assign")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(length))
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    assert conn.sock is not None
    received = b""
    while len(received) < len(CONTINUE):
        chunk = conn.sock.recv(len(CONTINUE) - len(received))
        assert chunk, "the server closed the connection"
        received += chunk
    assert received == CONTINUE
    return conn


def refuses_connections(address: tuple[str, int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(address, timeout=5).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.05)
    return False


def logs_within(log: Path, text: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_lets_requests_in_flight_finish(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, meta = sample_model
    people = list(customers(read_online_retail(SAMPLE)).values())
    big = json.dumps({"as_of": meta["data"]["as_of"], "customers": people}).encode()
    server = start_server(path.parent.parent, path, tmp_path / "uvicorn.log")
    conns: list[http.client.HTTPConnection] = []
    try:
        url = urlsplit(server.url)
        address = (url.hostname or "127.0.0.1", url.port or 80)
        conns = [start_post(address, len(big)) for _ in range(3)]
        for conn in conns[:2]:
            conn.send(big)  # these two are being answered; the third has sent no body yet
        conns[2].send(big[: len(big) // 2])
        server.proc.send_signal(signal.SIGTERM)
        assert refuses_connections(address), "still accepting connections after SIGTERM"
        assert server.proc.poll() is None, "the server exited with requests in flight"
        # The third request cannot finish before its body is sent, so uvicorn must say it waits.
        assert logs_within(server.log, "Waiting for connections to close"), server.log.read_text()
        conns[2].send(big[len(big) // 2 :])
        for conn in conns:
            response = conn.getresponse()
            answer = json.loads(response.read())
            assert response.status == 200, answer
            assert answer["model_version"] == meta["version"]
            assert len(answer["results"]) == len(people)
        assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        for conn in conns:
            conn.close()
        stop_server(server)
