"""One write per response: a response's status line and headers go out with its body.

uvicorn writes a response's head as soon as the application starts it and the body when
it comes: two ``send`` system calls for every small answer, ~11% of a one-customer
request's CPU under load (py-spy over ``wrk -c16``, 2026-12-01). :class:`JoinedWrites`
holds what is written during one turn of the event loop and hands it to the socket at the
end of that turn, so the head and the body of an answer written together leave together.
Nothing waits longer than the rest of the current turn.
"""

from __future__ import annotations

import asyncio
from typing import Any

from shopper_segments.app.deadlines import HeaderDeadlineProtocol
from shopper_segments.app.keepalive import SweptKeepAlive

#: Held writes up to this many bytes in all are joined into one; larger ones go one by one.
JOIN_BYTES = 64 * 1024


class JoinedWrites:
    """A transport whose writes of one event-loop turn reach the socket as one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._held: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))
        self._size += len(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Write what is held (nothing if the connection is closing)."""
        held, size = self._held, self._size
        if not held:
            return
        self._held, self._size = [], 0
        if self._transport.is_closing():
            return
        if len(held) == 1:
            self._transport.write(held[0])
        elif size <= JOIN_BYTES:
            self._transport.write(b"".join(held))
        else:
            for data in held:
                self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()  # asyncio's close sends what is buffered before closing
        self._transport.close()

    def abort(self) -> None:
        self._held, self._size = [], 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ...
        return getattr(self._transport, name)


class ServiceProtocol(SweptKeepAlive, HeaderDeadlineProtocol):
    """The service's HTTP protocol: uvicorn's httptools one with the header deadline, the
    keep-alive timeout kept by a sweep (:mod:`app.keepalive`) and one write per response."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = JoinedWrites(transport, self.loop)  # type: ignore[assignment]
