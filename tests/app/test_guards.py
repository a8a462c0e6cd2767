"""The body size limit on a real uvicorn process: refused before the body is read."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from shopper_segments.app.guards import is_json
from tests.conftest import BODY_LIMIT as LIMIT
from tests.conftest import Server


def exchange(server: Server, head: bytes, chunks: list[bytes]) -> bytes:
    """Send ``head`` and ``chunks`` (never finishing the body), then read the answer."""
    url = urlsplit(server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head)
        for chunk in chunks:
            sock.sendall(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer


def split(answer: bytes) -> tuple[int, dict]:
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(payload)


def test_declared_content_length_over_the_limit_is_refused_without_the_body(limited_server: Server) -> None:
    head = (
        b"POST /v1/assign HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10000000000\r\n\r\n"
    )
    status, problem = split(exchange(limited_server, head, []))  # not one byte of the body sent
    assert status == 413
    assert problem["errors"] == [{"field": "body", "message": f"is larger than the limit of {LIMIT} bytes"}]
    assert "Content-Length 10000000000" in problem["detail"]


def test_streamed_body_is_cut_off_once_over_the_limit(limited_server: Server) -> None:
    head = (
        b"POST /v1/assign HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"[" + b" " * 999
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    # Over the limit sent, the terminating chunk never: the server must answer anyway.
    status, problem = split(exchange(limited_server, head, [chunk] * (LIMIT // len(piece) + 2)))
    assert status == 413
    assert problem["status"] == 413
    assert "streamed" in problem["detail"]


def test_the_server_serves_on_after_refusals(limited_server: Server) -> None:
    with httpx.Client(base_url=limited_server.url, timeout=10) as http:
        big = http.post(
            "/v1/assign", content=b"{" + b" " * LIMIT + b"}", headers={"Content-Type": "application/json"}
        )
        assert big.status_code == 413
        ok = http.post(
            "/v1/assign",
            json={
                "as_of": "2011-06-01T00:00:00Z",
                "customers": [
                    {"customer_id": "c", "transactions": [{"timestamp": "2011-01-01", "amount": 5}]}
                ],
            },
        )
        assert ok.status_code == 200, ok.text
        assert http.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/problem+json", True),
        ("text/json", False),
        ("application/jsonx", False),
        ("text/plain", False),
        ("", False),
        (None, False),
    ],
)
def test_is_json(content_type: str | None, expected: bool) -> None:
    assert is_json(content_type) is expected
