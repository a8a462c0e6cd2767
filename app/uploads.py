"""CSV and Parquet uploads of transaction lines -> the JSON request, and answers as CSV.

An upload is turned into exactly the :class:`AssignRequest` its lines describe (customers
in order of first appearance, each with its lines in file order), so it gets the answer
of the JSON request; errors name the file line (CSV) or row (Parquet).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pydantic import TypeAdapter, ValidationError
from starlette.types import Scope
from typing_extensions import TypedDict

from shopper_segments.app.errors import InvalidInput, field_error
from shopper_segments.app.limits import Limits, check_text, refuse
from shopper_segments.app.schemas import CustomerId
from shopper_segments.core.results import CustomerResult, csv_safe, result_frame
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
NUMBER_COLUMNS = ("amount", "quantity", "unit_price")


class _IdOnly(TypedDict):
    customer_id: CustomerId


_CUSTOMER = TypeAdapter(_IdOnly)  # errors of the id rules, named
_WHERE = re.compile(r"^customers\[(\d+)\]\.transactions(?:\[(\d+)\])?(.*)$")


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


def _number(value: Any) -> float | str | None:
    """A CSV cell (text) or Parquet value as a float; text that is no number stays text."""
    if value is None or isinstance(value, bool):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else str(value)  # NaN, inf: no amount


def upload_request(
    frame: pd.DataFrame, word: str, as_of: dt.datetime | None, explain: bool
) -> tuple[dict[str, Any], list[list[int]], int]:
    """The JSON request an upload describes (as plain data), the file line of each request
    line, and the number of rows dropped for a missing customer id (``missing_customer_id``).

    Customers come in order of first appearance, each with its lines in file order; a cell
    that breaks the schema makes its customer invalid (``_errors``), as in a JSON request.
    """
    numbers = frame.index.to_numpy()
    has_id = frame["customer_id"].notna().to_numpy()
    columns = [c for c in frame.columns if c != "customer_id"]
    values = {c: frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in columns}
    customers: list[dict[str, Any]] = []
    lines_of: list[list[int]] = []
    positions = np.flatnonzero(has_id)
    for cid, members in frame[has_id].groupby("customer_id", sort=False).indices.items():
        rows = positions[members]
        i = len(customers)
        own: list[dict[str, str]] = []
        transactions = []
        for j, pos in enumerate(rows.tolist()):
            line: dict[str, Any] = {}
            for c in columns:
                value = values[c][pos]
                if value is None:
                    continue
                if c in NUMBER_COLUMNS:
                    value = _number(value)
                    if isinstance(value, str):
                        own.append(field_error(f"customers[{i}].transactions[{j}].{c}", "is not a number"))
                elif not isinstance(value, str):  # Parquet: typed values
                    value = value.isoformat() if isinstance(value, dt.datetime) else str(value)
                line[c] = value
            transactions.append(line)
        customer_id: str | None = None
        try:
            customer_id = _CUSTOMER.validate_python({"customer_id": str(cid)})["customer_id"]
        except ValidationError as exc:
            own += [field_error(f"customers[{i}].customer_id", str(e["msg"])) for e in exc.errors()]
        customer: dict[str, Any] = {"customer_id": customer_id, "transactions": transactions}
        if own:
            customer["_errors"] = own
        customers.append(customer)
        lines_of.append([int(n) for n in numbers[rows]])
    if not customers:
        raise InvalidInput("customer_id: no row has one", [field_error("customer_id", "no row has one")])
    request: dict[str, Any] = {"customers": customers, "explain": explain}
    if as_of is not None:
        request["as_of"] = as_of
    return request, lines_of, int((~has_id).sum())


def relabel(exc: InvalidInput, lines_of: list[list[int]], word: str) -> InvalidInput:
    """Rewrite ``customers[i].transactions[j].x`` error fields as file lines."""
    errors = []
    for e in exc.errors:
        m = _WHERE.match(e["field"])
        if m is None:
            errors.append(e)
            continue
        i, j, rest = int(m.group(1)), m.group(2), m.group(3).lstrip(".")
        lines = lines_of[i]
        if j is not None:
            where = f"{word} {lines[int(j)]}"
        else:
            shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
            where = f"{word}{'s' if len(lines) > 1 else ''} {shown}"
        errors.append(field_error(f"{where}: {rest}" if rest else where, e["message"]))
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
    return InvalidInput(detail, errors)


def relabel_answer(payload: dict[str, Any], lines_of: list[list[int]], word: str) -> None:
    """:func:`relabel` of every customer's errors in an answer, in place."""
    for item in payload["results"]:
        if item["errors"]:
            item["errors"] = relabel(InvalidInput("", item["errors"]), lines_of, word).errors


def answer_csv(payload: dict[str, Any], feature_names: list[str]) -> str:
    """The answer as CSV: one row per customer in the result columns (as bulk output)."""
    results = [CustomerResult.model_validate(r) for r in payload["results"]]
    return str(csv_safe(result_frame(results, feature_names)).to_csv(index=False))
