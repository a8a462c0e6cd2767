"""CSV and Parquet uploads of transaction lines -> the JSON request, and answers as CSV.

An upload is turned into exactly the :class:`AssignRequest` its lines describe (customers
in order of first appearance, each with its lines in file order), so it gets the answer
of the JSON request; errors name the file line (CSV) or row (Parquet).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import TypeAdapter, ValidationError

from app.errors import InvalidInput, field_error, loc_to_field
from app.responses import AssignResponse
from app.schemas import AssignRequest, Customer, Transaction

CSV_TYPES = ("text/csv",)
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet")
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
MAX_ERRORS = 50
NUMBER_COLUMNS = ("amount", "quantity", "unit_price")
_TRANSACTIONS = TypeAdapter(list[Transaction])
_WHERE = re.compile(r"^customers\[(\d+)\]\.transactions(?:\[(\d+)\])?(.*)$")


def read_upload(body: bytes, media_type: str) -> tuple[pd.DataFrame, str]:
    """Rows of an upload (NA for empty cells) and the word for a row ("line" or "row")."""
    try:
        if media_type in PARQUET_TYPES:
            frame = pq.read_table(io.BytesIO(body)).to_pandas()
            word, first = "row", 1
        else:
            text = io.BytesIO(body)
            frame = pd.read_csv(text, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
            word, first = "line", 2
    except (ValueError, pa.ArrowException, UnicodeDecodeError) as exc:
        kind = "Parquet" if media_type in PARQUET_TYPES else "CSV"
        raise InvalidInput(f"body: not readable {kind}: {exc}", [field_error("body", str(exc))]) from exc
    unknown = [c for c in frame.columns if c not in UPLOAD_COLUMNS]
    missing = [c for c in ("customer_id", "timestamp") if c not in frame.columns]
    errors = [
        field_error("header", f"unknown column {c!r}; known: {', '.join(UPLOAD_COLUMNS)}") for c in unknown
    ]
    errors += [field_error("header", f"column {c!r} is required") for c in missing]
    if not errors and frame.empty:
        errors.append(field_error("body", "has no data rows"))
    if errors:
        raise InvalidInput("; ".join(e["message"] for e in errors[:3]), errors)
    frame.index = pd.RangeIndex(first, first + len(frame))
    from training.io import normalize_ids  # here: the training readers are not needed to serve JSON

    for col in ID_COLUMNS:
        if col in frame:
            frame[col] = normalize_ids(frame[col])
    return frame, word


def _number(value: Any) -> Any:
    """CSV cells are text: numeric text becomes a float (the schema takes JSON numbers only).

    Anything else is left for the schema to refuse at its line and column.
    """
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def upload_request(
    frame: pd.DataFrame, word: str, as_of: dt.datetime | None, explain: bool
) -> tuple[AssignRequest, list[list[int]]]:
    """The JSON request an upload describes, and the file line of each request line."""
    errors: list[dict[str, str]] = []
    numbers = frame.index.to_numpy()
    has_id = frame["customer_id"].notna().to_numpy()
    errors += [field_error(f"{word} {n}: customer_id", "is required") for n in numbers[~has_id][:MAX_ERRORS]]
    columns = [c for c in frame.columns if c != "customer_id"]
    values = {c: frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in columns}
    for c in NUMBER_COLUMNS:
        if c in values:
            values[c] = [_number(v) for v in values[c]]
    records = [{c: v for c in columns if (v := values[c][pos]) is not None} for pos in range(len(frame))]
    try:
        transactions = _TRANSACTIONS.validate_python(records)
    except ValidationError as exc:
        for e in exc.errors()[:MAX_ERRORS]:
            where = f"{word} {numbers[int(e['loc'][0])]}"
            errors.append(field_error(f"{where}: {loc_to_field(e['loc'][1:])}", str(e["msg"])))
        transactions = []
    if errors:
        raise InvalidInput(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3]), errors[:MAX_ERRORS]
        )
    customers, lines_of = [], []
    positions = np.flatnonzero(has_id)
    for cid, members in frame[has_id].groupby("customer_id", sort=False).indices.items():
        rows = positions[members]
        lines_of.append([int(n) for n in numbers[rows]])
        try:
            customers.append(Customer(customer_id=str(cid), transactions=[transactions[p] for p in rows]))
        except ValidationError as exc:
            errors += [
                field_error(f"{word} {lines_of[-1][0]}: customer_id", str(e["msg"])) for e in exc.errors()
            ]
    if errors:
        raise InvalidInput(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3]), errors[:MAX_ERRORS]
        )
    try:
        request = AssignRequest(as_of=as_of, customers=customers, explain=explain)
    except ValidationError as exc:
        raise InvalidInput(str(exc.errors()[0]["msg"]), _request_errors(exc, lines_of, word)) from exc
    return request, lines_of


def _request_errors(exc: ValidationError, lines_of: list[list[int]], word: str) -> list[dict[str, str]]:
    out = []
    for e in exc.errors():
        loc = e["loc"]
        if len(loc) >= 2 and loc[0] == "customers" and isinstance(loc[1], int):
            out.append(field_error(f"{word} {lines_of[loc[1]][0]}: {loc_to_field(loc[2:])}", str(e["msg"])))
        else:
            out.append(field_error(loc_to_field(loc), str(e["msg"])))
    return out


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


def answer_csv(response: AssignResponse, feature_names: list[str]) -> str:
    """The answer as CSV: the bulk CLI's columns, one row per customer."""
    rows = []
    for r in response.results:
        nxt = r.next_segment
        rows.append(
            [r.customer_id, r.segment_id, r.segment_name, r.distance]
            + ([nxt.segment_id, nxt.segment_name, nxt.distance] if nxt else [None, None, np.nan])
            + [r.features[n] for n in feature_names]
        )
    head = ["customer_id", "segment_id", "segment_name", "distance", "next_segment_id", "next_segment_name"]
    frame = pd.DataFrame(rows, columns=[*head, "next_distance", *feature_names])
    frame["next_segment_id"] = frame["next_segment_id"].astype("Int64")
    return str(frame.to_csv(index=False))
