"""The access log's one record per request (app.logs.log_access)."""

from __future__ import annotations

import logging
import time

import orjson

from shopper_segments.app.logs import JsonFormatter, access_logger, log_access


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_access_record_carries_the_fields_and_its_own_time() -> None:
    keep, level = Keep(), access_logger.level
    access_logger.addHandler(keep)
    access_logger.setLevel(logging.INFO)
    try:
        before = time.time()
        log_access({"request_id": "r1", "route": "/v1/assign", "status": 200})
        time.sleep(0.002)
        log_access({"request_id": "r2", "route": "/v1/assign", "status": 422})
        after = time.time()
    finally:
        access_logger.removeHandler(keep)
        access_logger.setLevel(level)
    first, second = keep.records
    assert before <= first.created < second.created <= after  # each record is stamped, not the template
    assert second.msecs == int((second.created % 1) * 1000)
    assert (first.name, first.levelno, first.getMessage()) == ("segments.access", logging.INFO, "request")
    line = orjson.loads(JsonFormatter().format(second))
    assert line["request_id"] == "r2" and line["status"] == 422 and line["logger"] == "segments.access"
    assert "r1" not in JsonFormatter().format(second)  # no field leaks from one record to the next


def test_times_are_formatted_per_record_across_seconds() -> None:
    """The formatter keeps the text of the last second: a record of another second gets its own."""
    formatter = JsonFormatter()
    times = []
    for created, msecs in ((1_700_000_000.998, 998), (1_700_000_001.002, 2), (1_700_000_000.5, 500)):
        record = logging.makeLogRecord({"name": "segments", "msg": "x", "created": created, "msecs": msecs})
        times.append(orjson.loads(formatter.format(record))["time"])
    assert times == [
        "2023-11-14T22:13:20.998Z",
        "2023-11-14T22:13:21.002Z",
        "2023-11-14T22:13:20.500Z",
    ]


def test_other_records_still_carry_their_extras() -> None:
    record = logging.makeLogRecord({"name": "segments", "msg": "loaded %s", "args": ("v1",), "path": "/m"})
    line = orjson.loads(JsonFormatter().format(record))
    assert (line["message"], line["path"]) == ("loaded v1", "/m") and "_segments_fields" not in line
