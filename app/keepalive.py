"""The keep-alive timeout of idle connections, checked by one sweep per server.

uvicorn arms a timer each time it has answered a request on a kept-alive connection and
cancels it when the next request's bytes arrive: per request a ``TimerHandle`` is made,
pushed on the event loop's heap and cancelled, and the heap is rebuilt as cancelled timers
pile up (~5 us of a one-customer answer at ``wrk -c16``, 2026-12-01: 80.8-84.0 -> 76.0-79.0
us of CPU). :class:`SweptKeepAlive` only notes when a connection fell idle, and
:class:`IdleSweep` looks at the server's connections every :func:`sweep_period` seconds and
closes those idle for the keep-alive timeout (``--timeout-keep-alive``, 75 s as the service
runs). An idle connection is so closed between the timeout and the timeout plus one period.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Collection
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

#: The longest period of the sweep (seconds); shorter for keep-alive timeouts under 4 s.
SWEEP_S = 1.0


def sweep_period(timeout_s: float) -> float:
    """Seconds between two sweeps: a quarter of the timeout, at most :data:`SWEEP_S`."""
    return min(SWEEP_S, timeout_s / 4)


class IdleSweep:
    """Closes a server's connections idle for ``timeout_s``; runs while it has connections.

    Parameters
    ----------
    connections : collection of protocols
        The server's open connections (uvicorn's ``ServerState.connections``); a connection
        is idle since its ``idle_since`` (loop time), or busy when that is None.
    loop : event loop
    timeout_s : float
        The keep-alive timeout.
    """

    def __init__(
        self, connections: Collection[Any], loop: asyncio.AbstractEventLoop, timeout_s: float
    ) -> None:
        self.connections, self.loop, self.timeout_s = connections, loop, timeout_s
        self.period = sweep_period(timeout_s)
        self.handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Make sure a sweep is on the loop's way (a new connection calls this)."""
        if self.handle is None:
            self.handle = self.loop.call_later(self.period, self.sweep)

    def sweep(self) -> None:
        """Close every connection idle for the timeout; come back while any is open."""
        self.handle = None
        now = self.loop.time()
        for conn in list(self.connections):
            since = getattr(conn, "idle_since", None)
            if since is not None and now - since >= self.timeout_s:
                conn.idle_since = None
                conn.timeout_keep_alive_handler()  # uvicorn's: closes the transport
        if self.connections:
            self.start()


#: One sweep per server (the workers of a server are processes: one each).
_SWEEPS: weakref.WeakKeyDictionary[ServerState, IdleSweep] = weakref.WeakKeyDictionary()


class SweptKeepAlive(HttpToolsProtocol):
    """uvicorn's httptools protocol with its keep-alive timeout kept by an :class:`IdleSweep`."""

    idle_since: float | None = None  # loop time the connection fell idle; None while in use

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        state = self.server_state
        if state not in _SWEEPS:
            _SWEEPS[state] = IdleSweep(self.connections, self.loop, self.timeout_keep_alive)
        _SWEEPS[state].start()

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        super().data_received(data)

    def on_response_complete(self) -> None:
        """uvicorn 0.54's, with the time the connection fell idle noted instead of a timer armed."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:  # a request already read waits behind this one: the connection is busy
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self.idle_since = self.loop.time()
