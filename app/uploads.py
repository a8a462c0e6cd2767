"""CSV and Parquet uploads of transaction lines -> the JSON request, and answers as CSV.

An upload (read by :mod:`app.upload_files`) is turned into exactly the :class:`AssignRequest`
its lines describe (customers in order of first appearance, each with its lines in file
order), so it gets the answer of the JSON request; errors name the file line (CSV) or row
(Parquet).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import numpy as np
import pandas as pd
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from shopper_segments.app.errors import InvalidInput, field_error
from shopper_segments.app.schemas import CustomerId
from shopper_segments.core.results import CustomerResult, csv_safe, result_frame

NUMBER_COLUMNS = ("amount", "quantity", "unit_price")


class _IdOnly(TypedDict):
    customer_id: CustomerId


_CUSTOMER = TypeAdapter(_IdOnly)  # errors of the id rules, named
_WHERE = re.compile(r"^customers\[(\d+)\]\.transactions(?:\[(\d+)\])?(.*)$")


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
