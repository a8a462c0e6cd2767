"""Request guards in front of the routes: the body size limit and the JSON content type.

:class:`BodyLimitMiddleware` is pure ASGI. It refuses a request whose ``Content-Length``
is over the limit before the application sees it, and counts the bytes of a streamed
(chunked) body as they arrive: once over the limit it answers 413 at once and tells the
application the client went away, so the rest of the body is never read.
"""

from __future__ import annotations

import email.message
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopper_segments.app.errors import PayloadTooLarge, UnsupportedMediaType, field_error, problem
from shopper_segments.app.memory import claim_release, release
from shopper_segments.app.responses import Problem

#: ``responses=`` entries for routes that read a JSON body.
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "the body is over the size limit"},
    415: {"model": Problem, "description": "the body is not JSON (application/json)"},
}


class BodyLimitMiddleware:
    """Answer 413 (problem+json) to bodies over ``max_body_bytes``, without reading them all."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(scope, receive, send, f"Content-Length {int(declared)}")
            return
        total = 0
        refused = False
        started = False

        async def counted_receive() -> Message:
            nonlocal total, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > self.max_body_bytes:
                    refused = True
                    if not started:
                        await self._refuse(scope, receive, send, f"over {total} bytes streamed")
                    # The application stops reading as if the client had gone.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # our 413 is the answer; drop whatever the application says
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
        if claim_release(total):  # the request is over: its memory can go back to the system
            await run_in_threadpool(release)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, seen: str) -> None:
        error = PayloadTooLarge(
            f"the request body is over the limit of {self.max_body_bytes} bytes ({seen})",
            [field_error("body", f"is larger than the limit of {self.max_body_bytes} bytes")],
        )
        response = problem(
            error.status,
            error.title,
            error.detail,
            scope.get("path", ""),
            error.errors,
            # The rest of the body is unread: the connection can't be reused.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct values
def is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/<anything>+json`` (parameters allowed)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def json_body(*other_types: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency answering 415 to a body that is not declared JSON.

    ``other_types`` are the other media types the same path takes (through another
    route), named in the message. An empty body is left to validation ("Field required").
    """
    expected = ", ".join(["application/json", *other_types])

    async def require_json(request: Request) -> None:
        headers = request.headers
        length = headers.get("content-length", "0").strip()
        has_body = length not in ("", "0") or "transfer-encoding" in headers
        if has_body and not is_json(headers.get("content-type")):
            given = headers.get("content-type") or "missing"
            raise UnsupportedMediaType(
                f"the body must be one of {expected}; Content-Type is {given}",
                [field_error("Content-Type", f"is {given}; expected {expected}")],
            )

    return require_json
