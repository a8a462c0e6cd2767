"""Graceful shutdown of a real uvicorn process: on SIGTERM, requests in flight finish."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.app.payloads import customers, read_online_retail
from tests.conftest import SAMPLE, start_server, stop_server


def post(address: tuple[str, int], body: bytes, send: int | None = None) -> http.client.HTTPConnection:
    """Start POST /v1/assign, sending only the first ``send`` bytes of the body (all by default)."""
    conn = http.client.HTTPConnection(*address, timeout=120)
    conn.putrequest("POST", "/v1/assign")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body[:send] if send is not None else body)
    return conn


def test_sigterm_lets_requests_in_flight_finish(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, meta = sample_model
    people = list(customers(read_online_retail(SAMPLE)).values())
    big = json.dumps({"as_of": meta["data"]["as_of"], "customers": people}).encode()
    server = start_server(path.parent.parent, path, tmp_path / "uvicorn.log")
    conns: list[http.client.HTTPConnection] = []
    try:
        url = urlsplit(server.url)
        address = (url.hostname or "127.0.0.1", url.port or 80)
        computing = [post(address, big) for _ in range(2)]  # whole bodies sent: being answered
        uploading = post(address, big, send=len(big) // 2)  # headers and half the body sent
        conns = [*computing, uploading]
        time.sleep(1.0)  # let the server read the requests' headers
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.proc.poll() is None, "the server exited with a request in flight"
        with pytest.raises(ConnectionRefusedError):  # no new connections once shutting down
            socket.create_connection(address, timeout=5).close()
        uploading.send(big[len(big) // 2 :])
        for conn in conns:
            response = conn.getresponse()
            answer = json.loads(response.read())
            assert response.status == 200, answer
            assert answer["model_version"] == meta["version"]
            assert len(answer["results"]) == len(people)
        assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Waiting for connections to close" in server.log.read_text()
    finally:
        for conn in conns:
            conn.close()
        stop_server(server)
