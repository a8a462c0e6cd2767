"""POST /v1/assign with a JSON body, answered at the ASGI level.

The service's busiest request skips what it does not use of the framework: the middleware
chain (a coroutine and a wrapped ``receive``/``send`` per layer), routing, Starlette's
request and response objects. It keeps what they give, by calling the same functions: the
request id and access-log line with the HTTP metrics (:func:`app.access.record_access`), the
body deadline (:func:`app.deadlines.body_timeout_error`), the error shapes
(:mod:`app.errors`), the memory release, and the route's own answer
(:func:`app.routes.assign.answer_json`).

Only requests that need none of the other rules come this way: ``POST /v1/assign``, a JSON
``Content-Type``, a ``Content-Length`` within the body limit, no ``Transfer-Encoding`` and no
API keys configured. Everything else (uploads, other media types, streamed or oversized
bodies, keyed access) goes through the app as usual, where each of those rules lives.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from shopper_segments.app.access import record_access, request_id
from shopper_segments.app.deadlines import body_timeout_error
from shopper_segments.app.errors import (
    PayloadTooLarge,
    ServiceError,
    field_error,
    service_problem,
    unhandled_problem,
)
from shopper_segments.app.guards import is_json
from shopper_segments.app.memory import claim_release, release
from shopper_segments.app.routes.assign import answer_json, query_flags

PATH = "/v1/assign"
#: What the access log and the HTTP metrics read of a matched route: its path template.
ROUTE = SimpleNamespace(path=PATH)


class SegmentsApp(FastAPI):
    """The FastAPI app, with JSON ``POST /v1/assign`` answered by :func:`answer` when it can be."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            length = plain_json_length(scope, self.state.settings)
            if length is not None:
                scope["route"] = ROUTE
                await answer(self.state, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def plain_json_length(scope: Scope, settings: Any) -> int | None:
    """The body's declared length if the request needs no rule but the route's own, else None."""
    if settings.api_keys:
        return None
    length = json = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
        elif name == b"content-type":
            json = is_json(value.decode("latin-1"))
        elif name == b"transfer-encoding":
            return None
    if not json or length is None or not length.isdigit():
        return None
    declared = int(length)
    return declared if declared <= settings.max_body_bytes else None


async def answer(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body, answer it as the route would, and record the request."""
    started = time.perf_counter()
    settings = state.settings
    rid = request_id(scope)
    scope.setdefault("state", {})["request_id"] = rid
    rid_header = (b"x-request-id", rid.encode("latin-1"))
    status, size = 500, 0
    try:
        try:
            body = await read_body(receive, settings.body_timeout_s, settings.max_body_bytes)
            size = len(body)
            explain, strict = query_flags(scope["query_string"])
            content, version = await answer_json(body, state, explain, strict)
        except ServiceError as exc:
            problem: JSONResponse = service_problem(exc, scope["path"])
        except Exception as exc:
            problem = unhandled_problem(scope, exc)  # a 500 names the request id itself
            if not isinstance(exc, ClientDisconnect):
                await problem(scope, receive, send)
                raise  # as Starlette does: uvicorn's copy of the log line is dropped (app.logs)
        else:
            scope["state"]["model_version"] = version
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(content)),
                (b"x-model-version", version.encode("latin-1")),
                rid_header,
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            status = 200
            await send({"type": "http.response.body", "body": content})
            return
        if rid_header[0] not in dict(problem.raw_headers):
            problem.raw_headers.append(rid_header)
        status = problem.status_code
        await problem(scope, receive, send)
    finally:
        record_access(scope, status, time.perf_counter() - started, state.metrics, state)
        if claim_release(size):  # the request is over: its memory can go back to the system
            await run_in_threadpool(release)


async def read_body(receive: Receive, timeout_s: float, max_bytes: int) -> bytes:
    """The whole body, received within ``timeout_s``.

    Raises
    ------
    RequestTimeout
        The body did not arrive within ``timeout_s`` (408, the connection is closed).
    ClientDisconnect
        The client went away before the body was complete.
    PayloadTooLarge
        More bytes arrived than the limit (a server that does not hold a body to its
        ``Content-Length``).
    """
    # The whole body already in: nothing to wait for, so no deadline to arm (~3 us a request).
    message = await receive() if body_arrived(receive) else None
    if message is not None and message["type"] == "http.request" and not message.get("more_body", False):
        body = message.get("body", b"")
        return _within(body, len(body), max_bytes)
    chunks: list[bytes] = []
    total = 0
    try:
        async with asyncio.timeout(timeout_s):  # only waiting for the client happens in here
            while True:
                message = message or await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect
                chunk = message.get("body", b"")
                total += len(chunk)
                chunks.append(_within(chunk, total, max_bytes))
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
                message = None
    except TimeoutError:
        raise body_timeout_error(timeout_s) from None


def body_arrived(receive: Receive) -> bool:
    """Whether uvicorn holds the request's whole body, so ``receive`` returns it without waiting."""
    cycle = getattr(receive, "__self__", None)
    return (
        isinstance(cycle, RequestResponseCycle)
        and not cycle.more_body
        and not cycle.waiting_for_100_continue
        and cycle.message_event.is_set()
    )


def _within(chunk: bytes, total: int, max_bytes: int) -> bytes:
    """``chunk`` if the body, ``total`` bytes with it, is within the limit; else 413."""
    if total > max_bytes:
        raise PayloadTooLarge(
            f"the request body is over the limit of {max_bytes} bytes (over {total} bytes streamed)",
            [field_error("body", f"is larger than the limit of {max_bytes} bytes")],
            headers={"Connection": "close"},
        )
    return chunk
