"""The access log's one line per request (app.access.log_access): written directly with the service's
own handler, as a record through logging otherwise."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from shopper_segments.app.access import access_logger, log_access
from shopper_segments.app.logs import JsonFormatter


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


@pytest.fixture
def service_logging(tmp_path: Path) -> Iterator[Path]:
    """The service's own logging (app.logs.configure_logging) into a file; restored after.

    Its handler alone: pytest attaches its capture handlers to non-propagating loggers as a
    test starts, so the handler list is set again when the test body runs (:func:`alone`).
    """
    segments = logging.getLogger("segments")
    saved = (segments.handlers[:], segments.level, segments.propagate, access_logger.level)
    path = tmp_path / "log.jsonl"
    with path.open("w") as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        segments.handlers[:] = [handler]
        segments.setLevel(logging.INFO)
        segments.propagate = False
        access_logger.setLevel(logging.NOTSET)
        try:
            yield path
        finally:
            segments.handlers[:], segments.level, segments.propagate = saved[:3]
            access_logger.setLevel(saved[3])


def alone() -> None:
    """Only the service's handler on ``segments`` (pytest's own handlers taken off for the test)."""
    segments = logging.getLogger("segments")
    segments.handlers[:] = [h for h in segments.handlers if isinstance(h.formatter, JsonFormatter)]


def test_with_the_services_own_handler_the_line_is_written_directly_as_the_formatter_makes_it(
    service_logging: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone()
    fields = {"request_id": "r3", "method": "POST", "route": "/v1/assign", "status": 200, "duration_ms": 1.5}
    logging.getLogger("segments").info("before")  # the handler's own write, then ours, in order
    monkeypatch.setattr(access_logger, "handle", None)  # no record may be made on this path
    before = time.time()
    log_access(fields)
    after = time.time()
    monkeypatch.undo()
    log_access({**fields, "request_id": "r4"})
    logging.getLogger("segments").info("after")
    lines = [orjson.loads(line) for line in service_logging.read_text().splitlines()]
    assert [line["message"] for line in lines] == ["before", "request", "request", "after"]
    direct = lines[1]
    record = logging.makeLogRecord({"name": "segments.access", "msg": "request", "levelname": "INFO"})
    record.created, record.msecs = direct_time(direct["time"]), 0
    expected = orjson.loads(JsonFormatter().format(record)) | fields
    assert {k: v for k, v in direct.items() if k != "time"} == {
        k: v for k, v in expected.items() if k != "time"
    }
    assert before - 0.001 <= direct_time(direct["time"]) <= after + 0.001
    assert lines[2]["request_id"] == "r4"


def direct_time(text: str) -> float:
    """Seconds since 1970 of a line's time text (``2023-11-14T22:13:20.998Z``)."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    "change", ["filter on the handler", "handler on access", "propagates", "warning level"]
)
def test_any_other_logging_setup_gets_records(service_logging: Path, change: str) -> None:
    alone()
    segments, keep = logging.getLogger("segments"), Keep()
    if change == "filter on the handler":
        segments.handlers[0].addFilter(lambda record: record.__dict__.get("status") != 500)
    elif change == "handler on access":
        access_logger.addHandler(keep)
    elif change == "propagates":
        segments.propagate = True
        logging.getLogger().addHandler(keep)
    else:
        segments.setLevel(logging.WARNING)
    try:
        log_access({"request_id": "r5", "status": 500})
        log_access({"request_id": "r6", "status": 200})
    finally:
        access_logger.removeHandler(keep)
        logging.getLogger().removeHandler(keep)
    written = [orjson.loads(line)["request_id"] for line in service_logging.read_text().splitlines()]
    expected = {
        "filter on the handler": (["r6"], []),
        "handler on access": (["r5", "r6"], ["r5", "r6"]),
        "propagates": (["r5", "r6"], ["r5", "r6"]),
        "warning level": ([], []),
    }[change]
    assert (written, [r.__dict__["request_id"] for r in keep.records]) == expected


def test_a_stream_that_fails_gets_the_handlers_own_error_report(
    service_logging: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alone()
    handler = logging.getLogger("segments").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.stream.close()
    log_access({"request_id": "r7", "status": 200})  # no exception reaches the request
    assert "ValueError" in capsys.readouterr().err  # logging's handleError: the write on a closed file
