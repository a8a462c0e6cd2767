"""The access log: one JSON line and the HTTP metrics per request, with its request id.

:class:`AccessMiddleware` is pure ASGI: it never reads request bodies. Per request it
takes the id from ``X-Request-ID`` (or makes one), echoes it in the response, records the
HTTP metrics and logs one JSON line: request id, method, path (without the query string,
which could carry secrets), route, status, duration, model version. Bodies and headers
(so API keys) are never logged. The JSON POST /v1/assign answered at the ASGI level
(:mod:`app.hotpath`) records its request through :func:`record_access` too.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import time
from typing import Any, NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopper_segments.app.logs import FIELDS, JsonFormatter
from shopper_segments.app.metrics import Metrics

REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_logger = logging.getLogger("segments.access")

# A made id is this process's random prefix and a counter: 32 hex digits, unique across
# workers and restarts, without a system call per request (uuid4 reads os.urandom).
_ID_PREFIX = os.urandom(10).hex()
_ID_COUNTER = itertools.count(int.from_bytes(os.urandom(4)))


def request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` when it is a safe token, else a new id (32 hex digits)."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _VALID_ID.match(text):
                return text
            break
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFF:012x}"


#: The access record's constant attributes; each line copies them and sets its time.
_ACCESS_RECORD = logging.LogRecord(
    access_logger.name, logging.INFO, __file__, 0, "request", None, None
).__dict__
_START = getattr(logging, "_startTime", time.time())


def log_access(fields: dict[str, Any]) -> None:
    """One access-log line.

    When the service's own handler alone takes it (as :func:`app.logs.configure_logging` sets
    up), the line its :class:`app.logs.JsonFormatter` would make is written to the handler's
    file straight away, without a ``LogRecord`` and the handler chain (a line to a file: 4.68
    -> 3.14 us). Otherwise a record, copied from a template (no caller, thread
    or process lookups), goes through ``logging`` as any other.
    """
    direct = _direct()
    if direct is not None:
        now = time.time()
        line = direct.formatter.line(now, _msecs(now), "INFO", access_logger.name, "request", fields)
        data = memoryview(line + b"\n")
        try:
            with direct.lock:
                while data:  # one write but for a pipe that takes part of it
                    data = data[os.write(direct.fd, data) :]
            return
        except OSError:
            pass  # the handler's own write below reports it as logging does
    if access_logger.isEnabledFor(logging.INFO):
        record = logging.LogRecord.__new__(logging.LogRecord)
        now = time.time()
        record.__dict__.update(_ACCESS_RECORD, created=now, relativeCreated=(now - _START) * 1000, **fields)
        record.__dict__[FIELDS] = fields
        record.msecs = _msecs(now)
        record.process, record.thread = os.getpid(), threading.get_ident()  # workers fork; threads differ
        access_logger.handle(record)


def _msecs(created: float) -> float:
    """The milliseconds of a time, as ``logging.LogRecord`` computes them."""
    return int((created - int(created)) * 1000) + 0.0


class _Direct(NamedTuple):
    formatter: JsonFormatter
    lock: Any  # the handler's lock: its other lines are written whole, in turn with these
    fd: int


def _direct() -> _Direct | None:
    """Where an access line can be written directly: only when nothing else would see it.

    That is: ``segments.access`` passes INFO and has no handler or filter of its own, and its
    parent ``segments`` keeps its lines (no propagation) for one plain ``StreamHandler`` with a
    :class:`app.logs.JsonFormatter`, no filter and a level at most INFO, on a file descriptor.
    """
    logger, parent = access_logger, access_logger.parent
    if (
        logger.handlers
        or logger.filters
        or not logger.propagate
        or not isinstance(parent, logging.Logger)
        or parent.propagate
        or parent.filters
        or len(parent.handlers) != 1
        or not logger.isEnabledFor(logging.INFO)
    ):
        return None
    (handler,) = parent.handlers
    formatter = handler.formatter
    if (
        type(handler) is not logging.StreamHandler
        or handler.filters
        or handler.level > logging.INFO
        or not isinstance(formatter, JsonFormatter)
        or handler.lock is None
    ):
        return None
    try:
        return _Direct(formatter, handler.lock, handler.stream.fileno())
    except (AttributeError, OSError, ValueError):  # a stream without a file (a StringIO)
        return None


class AccessMiddleware:
    """Request id, HTTP metrics and one JSON access-log line per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, state: Any) -> None:
        self.app, self.metrics, self.state = app, metrics, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        rid_bytes = rid.encode("latin-1")
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid_bytes)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            record_access(scope, status, time.perf_counter() - started, self.metrics, self.state)


def record_access(scope: Scope, status: int, seconds: float, metrics: Metrics, state: Any) -> None:
    """A request is over: its HTTP metrics and its access-log line."""
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    metrics.observe_request(scope["method"], route, status, seconds)
    log_access(
        {
            "request_id": scope["state"]["request_id"],
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "model_version": _model_version(scope, state),
        }
    )


def _model_version(scope: Scope, state: Any) -> str | None:
    """The version that answered (set by the assign routes), else the one serving now."""
    answered = scope.get("state", {}).get("model_version")
    if answered is not None:
        return str(answered)
    segmenter = getattr(state, "segmenter", None)
    return segmenter.current.version if segmenter is not None and segmenter.ready else None
