"""Turn validated request customers into canonical line arrays, checking the serving rules."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np

from app.errors import field_error
from app.schemas import OUT_OF_UTC_RANGE
from training.features import FeatureSpec, LineArrays

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are UTC (the same rule as training files)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def to_ns(value: dt.datetime) -> int:
    """Exact nanoseconds since 1970-01-01 UTC of an aware datetime (no float rounding)."""
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


#: Stands for a timestamp whose UTC value leaves years 1-9999 (an offset at either end).
OVERFLOW = -(2**80)
_EPOCH_ORDINAL = EPOCH.toordinal()
_MIN_NS = to_ns(dt.datetime.min.replace(tzinfo=dt.UTC))
_MAX_NS = to_ns(dt.datetime.max.replace(tzinfo=dt.UTC))


def _line_ns(stamp: dt.datetime, offset_ns: int) -> int:
    """Nanoseconds since 1970 UTC of ``stamp`` whose UTC offset is ``offset_ns``, or OVERFLOW.

    Plain arithmetic on the wall-clock fields: converting the datetime (``astimezone``)
    costs twice as much with pydantic's ``TzInfo``.
    """
    ns = (
        (
            (stamp.toordinal() - _EPOCH_ORDINAL) * 86_400
            + stamp.hour * 3_600
            + stamp.minute * 60
            + stamp.second
        )
        * 1_000_000_000
        + stamp.microsecond * 1_000
        - offset_ns
    )
    return ns if _MIN_NS <= ns <= _MAX_NS else OVERFLOW


def _offset_ns(stamp: dt.datetime) -> int:
    delta = stamp.utcoffset()
    return (
        0
        if delta is None
        else (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    )


def history_lines(
    customers: list[tuple[int, dict[str, Any]]],
    spec: FeatureSpec,
    as_of: dt.datetime,
    latest_allowed: dt.datetime,
) -> tuple[LineArrays, list[dict[str, str]]]:
    """Cleaned lines of customers given by history, as arrays, and every rule they break.

    Customer ``k`` of ``customers`` gets customer code ``k``. Cleaning follows
    :func:`training.frames.clean_lines`: a line without an order id belongs to the
    visit at its timestamp, and exact duplicate lines count once.

    Parameters
    ----------
    customers : list of (index in the request, customer as plain data)
        Transactions are dicts with every field of :class:`app.schemas.Transaction`.
    spec : FeatureSpec
        The model's features; decides whether money and categories are needed.
    as_of : datetime
        No line may be later than this.
    latest_allowed : datetime
        Timestamps past this (now plus a tolerance) are refused as in the future.
    """
    errors: list[dict[str, str]] = []
    as_of_ns, latest_ns = to_ns(as_utc(as_of)), to_ns(as_utc(latest_allowed))
    ns_of: dict[dt.datetime, int] = {}
    orders: dict[object, int] = {}
    lookup = {c: k for k, c in enumerate(spec.categories)}
    other = len(spec.categories)
    seen: set[tuple[object, ...]] = set()
    lines_of: list[int] = []  # kept lines per customer (customer codes repeat: np.repeat at the end)
    order_col: list[int] = []
    ts_col: list[int] = []
    amount_col: list[float] = []
    cat_col: list[int] = []
    limit_ns = min(as_of_ns, latest_ns)
    has_money, has_categories = spec.has_money, bool(spec.categories)
    for k, (i, cust) in enumerate(customers):
        has_purchase = False
        kept_before = len(ts_col)
        for j, t in enumerate(cust["transactions"]):
            stamp = t["timestamp"]
            ns = ns_of.get(stamp)  # the parser hands equal timestamps over as one object
            if ns is None:
                ns = ns_of[stamp] = _line_ns(stamp, _offset_ns(stamp))
            if not 0 <= ns <= limit_ns:
                where = f"customers[{i}].transactions[{j}].timestamp"
                if ns == OVERFLOW:
                    errors.append(field_error(where, OUT_OF_UTC_RANGE))
                elif ns < 0:
                    errors.append(field_error(where, "is before 1970-01-01"))
                elif ns > latest_ns:
                    errors.append(field_error(where, "is in the future"))
                else:
                    errors.append(field_error(where, f"is after as_of {as_of.isoformat()}"))
            amount = t.get("amount")
            if (
                amount is None
                or amount == 0
                or "quantity" in t  # present (even as null): the careful path decides
                or "unit_price" in t
            ):
                where = f"customers[{i}].transactions[{j}]"
                amount = _amount(amount, t.get("quantity"), t.get("unit_price"), has_money, where, errors)
            if amount is None or amount > 0:
                has_purchase = True
            if errors:
                continue
            order_id, category = t.get("order_id"), t.get("category")
            money = amount if has_money else None
            key = (k, order_id, ns, money, category, t.get("product_id"))
            if key in seen:
                continue
            seen.add(key)
            order_key = order_id if order_id is not None else (k, ns)  # a visit: one per timestamp
            code = orders.get(order_key)
            if code is None:
                code = orders[order_key] = len(orders)
            order_col.append(code)
            ts_col.append(ns)
            if has_money:
                amount_col.append(money)  # type: ignore[arg-type]  # not None with money: checked above
            if has_categories:
                cat_col.append(lookup.get(category, other))
        lines_of.append(len(ts_col) - kept_before)
        if not has_purchase:
            errors.append(
                field_error(
                    f"customers[{i}].transactions",
                    "has no purchase line (only returns): features are undefined",
                )
            )
    lines = LineArrays(
        customer=np.repeat(np.arange(len(customers), dtype=np.intp), lines_of)
        if len(customers) > 1
        else np.zeros(len(ts_col), dtype=np.intp),
        order=np.array(order_col, dtype=np.intp),
        timestamp=np.array(ts_col, dtype=np.int64),
        amount=np.array(amount_col, dtype=np.float64) if has_money else None,
        category=np.array(cat_col, dtype=np.intp) if has_categories else None,
        n_customers=len(customers),
    )
    return lines, errors


def _amount(
    amount: float | None,
    quantity: float | None,
    unit_price: float | None,
    has_money: bool,
    where: str,
    errors: list[dict[str, str]],
) -> float | None:
    if amount is not None and (quantity is not None or unit_price is not None):
        errors.append(field_error(where, "give amount or quantity and unit_price, not both"))
        return None
    if amount is None and (quantity is None) != (unit_price is None):
        missing = "unit_price" if unit_price is None else "quantity"
        errors.append(field_error(f"{where}.{missing}", "is required with the other of quantity/unit_price"))
        return None
    if amount is None and quantity is not None and unit_price is not None:
        if quantity == 0:
            errors.append(
                field_error(f"{where}.quantity", "is zero: a line is a purchase (>0) or a return (<0)")
            )
            return None
        if unit_price == 0:
            errors.append(field_error(f"{where}.unit_price", "is zero: free lines carry no spend"))
            return None
        amount = quantity * unit_price
        if not math.isfinite(amount):
            errors.append(field_error(where, "quantity x unit_price is too large for a float"))
            return None
    if amount is None:
        if has_money:
            errors.append(
                field_error(
                    f"{where}.amount", "is required (or quantity and unit_price): the model uses spend"
                )
            )
        return None
    if amount == 0:
        errors.append(field_error(f"{where}.amount", "is zero: a line is a purchase (>0) or a return (<0)"))
        return None
    return amount
