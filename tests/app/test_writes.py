"""A response's head and body reach the socket as one write; nothing is held past a loop turn."""

from __future__ import annotations

import asyncio
import socket

import httpx

from shopper_segments.app.writes import JOIN_BYTES, JoinedWrites
from tests.conftest import Server


class Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


async def _turns() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_writes_of_one_turn_are_one_write_at_its_end() -> None:
    async def run() -> list[list[bytes]]:
        raw = Recorder()
        joined = JoinedWrites(raw, asyncio.get_running_loop())
        joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
        joined.write(memoryview(b"{}"))
        seen = [list(raw.writes)]
        assert joined.get_write_buffer_size() == 21
        await _turns()
        seen.append(list(raw.writes))
        joined.write(b"next")
        await _turns()
        seen.append(list(raw.writes))
        return seen

    before, after, later = asyncio.run(run())
    assert before == [] and after == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    assert later == [b"HTTP/1.1 200 OK\r\n\r\n{}", b"next"]


def test_close_sends_what_is_held_first_and_large_bodies_are_not_copied_together() -> None:
    async def run() -> tuple[list[bytes], bool, list[bytes]]:
        raw = Recorder()
        joined = JoinedWrites(raw, asyncio.get_running_loop())
        joined.write(b"head")
        joined.close()
        closed = (list(raw.writes), raw.closed)
        big = Recorder()
        joined = JoinedWrites(big, asyncio.get_running_loop())
        body = b"x" * (JOIN_BYTES + 1)
        joined.writelines([b"head", body])
        await _turns()
        return closed[0], closed[1], big.writes

    held, closed, big = asyncio.run(run())
    assert held == [b"head"] and closed
    assert big == [b"head", b"x" * (JOIN_BYTES + 1)]


def test_writes_to_a_closing_connection_are_dropped() -> None:
    async def run() -> list[bytes]:
        raw = Recorder()
        joined = JoinedWrites(raw, asyncio.get_running_loop())
        joined.write(b"late")
        raw.closed = True
        await _turns()
        return raw.writes

    assert asyncio.run(run()) == []


def test_a_served_answer_arrives_in_one_segment(sample_server: Server) -> None:
    """Over a real socket: the head and the body of a small answer come in one recv."""
    url = httpx.URL(sample_server.url)
    with socket.create_connection((url.host, url.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        first = sock.recv(65536)
    head, _, body = first.partition(b"\r\n\r\n")
    length = int(
        next(v for k, v in (h.split(b": ", 1) for h in head.split(b"\r\n")[1:]) if k == b"content-length")
    )
    assert head.startswith(b"HTTP/1.1 200") and len(body) == length > 0
