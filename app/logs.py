"""JSON-line logs and the access middleware (request id, HTTP metrics).

:class:`AccessMiddleware` is pure ASGI: it never reads request bodies. Per request it
takes the id from ``X-Request-ID`` (or makes one), echoes it in the response, records the
HTTP metrics and logs one JSON line: request id, method, path (without the query string,
which could carry secrets), route, status, duration, model version. Bodies and headers
(so API keys) are never logged.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import sys
import threading
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopper_segments.app.metrics import Metrics

REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_logger = logging.getLogger("segments.access")
#: An access record's own fields, as one dict (besides each as an attribute).
_FIELDS = "_segments_fields"
# uvicorn's color_message is its message again with terminal colours.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message", _FIELDS}
#: Set on an exception once app.errors has logged it (so uvicorn's copy of the line is dropped).
_LOGGED = "_segments_logged"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    _second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second[0]:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        out: dict[str, Any] = {
            "time": f"{self._second[1]}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        given = record.__dict__.get(_FIELDS)  # an access line names its fields: no scan for extras
        if given is not None:
            out |= given
        else:
            out |= {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def mark_logged(exc: BaseException) -> None:
    with contextlib.suppress(AttributeError):  # exceptions without a __dict__
        setattr(exc, _LOGGED, True)


class LoggedOnceFilter(logging.Filter):
    """Drops a record about an exception the service has already logged (its one line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, _LOGGED, False)


def configure_logging(level: str) -> None:
    """Send the ``segments`` loggers to stderr as JSON lines; our access log replaces uvicorn's."""
    root = logging.getLogger("segments")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, LoggedOnceFilter) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(LoggedOnceFilter())


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's ``log_config`` (``python -m app.serve``): its loggers and the root one as JSON lines."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "shopper_segments.app.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            # Replaced by segments.access (AccessMiddleware).
            "uvicorn.access": {"handlers": [], "level": level.upper(), "propagate": False},
            "py.warnings": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


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
    """One access-log line: one record, copied from a template (no caller, thread or process lookups)."""
    if access_logger.isEnabledFor(logging.INFO):
        record = logging.LogRecord.__new__(logging.LogRecord)
        now = time.time()
        record.__dict__.update(_ACCESS_RECORD, created=now, relativeCreated=(now - _START) * 1000, **fields)
        record.__dict__[_FIELDS] = fields
        record.msecs = int((now - int(now)) * 1000) + 0.0
        record.process, record.thread = os.getpid(), threading.get_ident()  # workers fork; threads differ
        access_logger.handle(record)


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
