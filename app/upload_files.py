"""Reading an uploaded CSV or Parquet file of transaction lines, its size checked first.

What a file may hold (its columns, at most the limits' lines) is checked on its header or
footer before its rows are read; the rows then go to :func:`app.uploads.upload_request`.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from starlette.types import Scope

from shopper_segments.app.errors import field_error
from shopper_segments.app.limits import Limits, check_text, refuse
from shopper_segments.core.rules import normalize_ids

CSV_TYPES = ("text/csv",)
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet")


def media_type(scope: Scope) -> str:
    """The request's Content-Type without parameters, lower case ("" without one)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


UPLOAD_COLUMNS = (
    "customer_id",
    "order_id",
    "timestamp",
    "amount",
    "quantity",
    "unit_price",
    "category",
    "product_id",
)
ID_COLUMNS = ("customer_id", "order_id", "product_id")


def read_upload(body: bytes, media_type: str, limits: Limits) -> tuple[pd.DataFrame, str]:
    """Rows of an upload (NA for empty cells) and the word for a row ("line" or "row").

    The size is checked before the rows are read: the CSV header's columns and the number
    of lines, or the Parquet footer's row count and schema. CSV is read strictly (UTF-8, a
    row with more or fewer fields than the header is refused with its line number).
    """
    if media_type in PARQUET_TYPES:
        frame, word, first = _read_parquet(body, limits), "row", 1
    else:
        frame, word, first = _read_csv(body, limits), "line", 2
    unknown = [c for c in frame.columns if c not in UPLOAD_COLUMNS]
    missing = [c for c in ("customer_id", "timestamp") if c not in frame.columns]
    errors = [
        field_error("header", f"unknown column {c!r}; known: {', '.join(UPLOAD_COLUMNS)}") for c in unknown
    ]
    errors += [field_error("header", f"column {c!r} is required") for c in missing]
    if not errors and frame.empty:
        errors.append(field_error("body", "has no data rows"))
    if errors:
        raise refuse(errors)
    frame.index = pd.RangeIndex(first, first + len(frame))
    for col in ID_COLUMNS:
        if col in frame:
            frame[col] = normalize_ids(frame[col])
    return frame, word


def _read_csv(body: bytes, limits: Limits) -> pd.DataFrame:
    body = body.removeprefix(b"\xef\xbb\xbf")  # spreadsheets write a UTF-8 byte order mark
    check_text(body)
    header = body[: body.find(b"\n")] if b"\n" in body else body
    names = header.rstrip(b"\r").split(b",")
    if len(names) > len(UPLOAD_COLUMNS) or len(set(names)) < len(names):
        shown = ", ".join(n.decode(errors="replace")[:40] for n in names[:10])
        message = f"has {len(names)} columns ({shown}{', ...' if len(names) > 10 else ''}); "
        message += f"known: {', '.join(UPLOAD_COLUMNS)}, each at most once"
        raise refuse([field_error("header", message)])
    rows = body.rstrip(b"\r\n").count(b"\n")
    if rows > limits.lines:
        raise refuse([field_error("body", f"has {rows:,} lines; the limit is {limits.lines:,} per request")])
    blank = re.search(rb"\n\r?\n", body.rstrip(b"\r\n"))
    if blank:
        line = body[: blank.start()].count(b"\n") + 2
        raise refuse([field_error(f"line {line}", "is empty")])
    ragged: list[dict[str, str]] = []

    def bad_row(row: Any) -> str:
        fields = f"has {row.actual_columns} fields, the header has {row.expected_columns}"
        ragged.append(field_error(f"line {row.number}", fields))
        return "skip"

    text = [n.decode().strip('"') for n in names]
    if b"\n" not in body:  # a header alone: Arrow cannot tell its columns without the line's end
        body += b"\n"
    try:
        table = pa_csv.read_csv(
            io.BytesIO(body),
            read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=bad_row),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(text, pa.string()), strings_can_be_null=True, null_values=[""]
            ),
        )
    except (pa.ArrowException, ValueError) as exc:
        raise refuse([field_error("body", f"is not readable CSV: {exc}")]) from None
    if ragged:
        raise refuse(ragged)
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get).astype(object)


def _read_parquet(body: bytes, limits: Limits) -> pd.DataFrame:
    try:
        parquet = pq.ParquetFile(io.BytesIO(body))
        schema = parquet.schema_arrow
        rows = parquet.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise refuse([field_error("body", f"is not readable Parquet: {exc}")]) from None
    if rows > limits.lines:
        raise refuse([field_error("body", f"has {rows:,} rows; the limit is {limits.lines:,} per request")])
    errors = [
        field_error(f"column {f.name}", f"has type {f.type}: text, numbers or timestamps only")
        for f in schema
        if not (
            pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type)
            or pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_timestamp(f.type)
            or pa.types.is_date(f.type)
            or (pa.types.is_dictionary(f.type) and pa.types.is_string(f.type.value_type))
        )
    ]
    if len(schema) > len(UPLOAD_COLUMNS) or errors:
        raise refuse(
            errors
            or [field_error("header", f"has {len(schema)} columns; known: {', '.join(UPLOAD_COLUMNS)}")]
        )
    try:
        return parquet.read().to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise refuse([field_error("body", f"is not readable Parquet: {exc}")]) from None
