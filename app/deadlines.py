"""Deadlines for slow clients: request headers (the HTTP protocol) and request bodies (ASGI).

:class:`HeaderDeadlineProtocol` is uvicorn's httptools protocol (what ``http="auto"`` picks
with httptools installed) plus a timer: a connection must deliver a request's line and
headers within ``SEGMENTS_HEADER_TIMEOUT_S`` of connecting (or, on a kept-alive connection,
of the request's first byte; idle time between requests stays under uvicorn's keep-alive
timeout). Otherwise it is closed, with a 408 if part of a request had arrived. A connection
that never sends a byte is closed too.

:class:`BodyTimeoutMiddleware` is pure ASGI. It sums the time the application waits on
``receive`` for the body; past ``SEGMENTS_BODY_TIMEOUT_S`` it answers 408 (problem+json,
``Connection: close``) and tells the application the client went away. Time the service
spends working between reads is not counted, only waiting for the client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from shopper_segments.app.config import get_settings
from shopper_segments.app.errors import RequestTimeout, field_error, problem

logger = logging.getLogger("segments")


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's line and headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().header_timeout_s
        self.header_timer: asyncio.TimerHandle | None = None
        self.request_begun = False
        self.begun_at = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.request_begun = True
        self.begun_at = self.loop.time()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A request whose headers came whole in this read needs no timer (most do: ~2 us saved
        # a request); one still arriving gets what is left of its deadline.
        if self.request_begun and self.header_timer is None and not self.transport.is_closing():
            self._arm_header_timer(self.header_timeout - (self.loop.time() - self.begun_at))

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()  # e.g. connection_made's, for a connection's first request
        self.request_begun = False
        super().on_headers_complete()

    def _arm_header_timer(self, delay: float | None = None) -> None:
        if self.header_timer is None:
            wait = self.header_timeout if delay is None else max(delay, 0.0)
            self.header_timer = self.loop.call_later(wait, self._header_timeout_handler)

    def _cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timeout_handler(self) -> None:
        self.header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request waits (unread) behind one being answered: not the client's delay.
            self._arm_header_timer()
            return
        detail = f"the request headers did not arrive within {self.header_timeout:g} s"
        logger.info("closed a connection: %s", detail, extra={"reason": "header_timeout"})
        if self.request_begun:
            body = orjson.dumps(
                {"type": "about:blank", "title": RequestTimeout.title, "status": 408, "detail": detail}
            )
            head = [STATUS_LINE[408]]
            for name, value in self.server_state.default_headers:
                head += [name, b": ", value, b"\r\n"]
            head += [
                b"content-type: application/problem+json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
            ]
            self.transport.write(b"".join(head) + body)
        self.transport.close()


class BodyTimeoutMiddleware:
    """Answer 408 (problem+json) when the client takes over ``body_timeout_s`` to send the body."""

    def __init__(self, app: ASGIApp, body_timeout_s: float) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        left = self.body_timeout_s
        complete = timed_out = started = answered = False

        async def timed_receive() -> Message:
            nonlocal left, complete, timed_out, answered
            if timed_out:
                return {"type": "http.disconnect"}
            if complete:  # e.g. Starlette waiting for a disconnect while it streams a response
                return await receive()
            began = loop.time()
            try:
                async with asyncio.timeout(max(left, 0.0)):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                if not started:
                    answered = True
                    await self._refuse(scope, receive, send)
                return {"type": "http.disconnect"}  # the application stops reading
            left -= loop.time() - began
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # our 408 is the answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, timed_receive, guarded_send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await body_timeout_problem(self.body_timeout_s, scope.get("path", ""))(scope, receive, send)


def body_timeout_error(body_timeout_s: float) -> RequestTimeout:
    """The error of a body that took over ``body_timeout_s`` to arrive (the connection then closes)."""
    seconds = f"{body_timeout_s:g}"
    return RequestTimeout(
        f"the request body did not arrive within {seconds} s",
        [field_error("body", f"did not arrive within {seconds} s")],
        headers={"Connection": "close"},  # the rest of the body is unread
    )


def body_timeout_problem(body_timeout_s: float, path: str) -> JSONResponse:
    """The 408 answer of :func:`body_timeout_error`."""
    error = body_timeout_error(body_timeout_s)
    return problem(error.status, error.title, error.detail, path, error.errors, error.headers)
