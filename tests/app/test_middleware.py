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
