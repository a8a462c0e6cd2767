"""JSON-line logs: the formatter, uvicorn's logging configuration and the exceptions logged once.

The access log itself (one line per request, with the request id and HTTP metrics) is
:mod:`app.access`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Any

import orjson

#: An access record's own fields, as one dict (besides each as an attribute): see app.access.
FIELDS = "_segments_fields"
# uvicorn's color_message is its message again with terminal colours.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message", FIELDS}
#: Set on an exception once app.errors has logged it (so uvicorn's copy of the line is dropped).
_LOGGED = "_segments_logged"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    _second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text

    def line(
        self, created: float, msecs: float, levelname: str, name: str, message: str, fields: dict[str, Any]
    ) -> bytes:
        """One line's JSON: time (UTC, to the millisecond), level, logger, message, then ``fields``."""
        second = int(created)
        if second != self._second[0]:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        out = {
            "time": f"{self._second[1]}.{int(msecs):03d}Z",
            "level": levelname.lower(),
            "logger": name,
            "message": message,
        }
        out |= fields
        return orjson.dumps(out, default=str)

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__.get(FIELDS)  # an access line names its fields: no scan for extras
        if fields is None:  # any other record: its ``extra`` fields
            fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if record.exc_info:
            fields = {**fields, "exception": self.formatException(record.exc_info)}
        message = record.getMessage()
        return self.line(
            record.created, record.msecs, record.levelname, record.name, message, fields
        ).decode()


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
