"""Turn validated request customers into canonical line arrays, checking the serving rules."""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from itertools import accumulate, pairwise
from typing import Any

import numpy as np
from pydantic_core import TzInfo

from app.errors import field_error
from app.schemas import OUT_OF_UTC_RANGE
from segments_core.features import FeatureSpec, LineArrays

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


#: tzinfo types whose offset is the same at every instant (one ``utcoffset`` call per zone).
_FIXED_ZONES = (dt.timezone, TzInfo)


def _stamps_ns(stamps: list[dt.datetime]) -> dict[dt.datetime, int]:
    """Nanoseconds (or OVERFLOW) of each distinct timestamp of ``stamps``."""
    ns_of: dict[dt.datetime, int] = dict.fromkeys(stamps, 0)
    offsets: dict[dt.tzinfo | None, int] = {None: 0}
    for stamp in ns_of:
        zone = stamp.tzinfo
        offset = offsets.get(zone)
        if offset is None:
            delta = stamp.utcoffset()
            assert delta is not None  # naive stamps hit offsets[None]
            offset = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
            if type(zone) in _FIXED_ZONES:
                offsets[zone] = offset
        ns_of[stamp] = _line_ns(stamp, offset)
    return ns_of


def history_lines(
    customers: list[tuple[int, dict[str, Any]]],
    spec: FeatureSpec,
    as_of: dt.datetime,
    latest_allowed: dt.datetime,
) -> tuple[LineArrays, list[dict[str, str]]]:
    """Cleaned lines of customers given by history, as arrays, and every rule they break.

    Customer ``k`` of ``customers`` gets customer code ``k``. Cleaning follows
    :func:`training.frames.clean_lines`: a line without an order id belongs to the
    visit at its timestamp, and exact duplicate lines count once. The rules run over
    whole columns (one list per field; timestamps once per distinct value); only lines
    that give quantity and unit price, or no usable amount, take the per-line rules.

    Parameters
    ----------
    customers : list of (index in the request, customer as plain data)
        Transactions are dicts with the fields of :class:`app.schemas.Transaction`
        (absent fields may be absent).
    spec : FeatureSpec
        The model's features; decides whether money and categories are needed.
    as_of : datetime
        No line may be later than this.
    latest_allowed : datetime
        Timestamps past this (now plus a tolerance) are refused as in the future.

    Returns
    -------
    lines : LineArrays
        Meaningful only without errors.
    errors : list of dict
        In line order, each at its field (``customers[i].transactions[j].timestamp``).
    """
    counts = [len(c["transactions"]) for _, c in customers]
    txs = [t for _, c in customers for t in c["transactions"]]
    n = len(txs)
    starts = list(accumulate(counts, initial=0))

    def where(p: int) -> str:
        k = bisect_right(starts, p) - 1
        return f"customers[{customers[k][0]}].transactions[{p - starts[k]}]"

    found: list[tuple[int, int, dict[str, str]]] = []  # (line, rank in line, error): sorted at the end
    stamps = [t["timestamp"] for t in txs]
    ns_of = _stamps_ns(stamps)
    as_of_ns, latest_ns = to_ns(as_utc(as_of)), to_ns(as_utc(latest_allowed))
    limit = min(as_of_ns, latest_ns)
    if ns_of and (min(ns_of.values()) < 0 or max(ns_of.values()) > limit):
        for p, stamp in enumerate(stamps):
            ns = ns_of[stamp]
            if not 0 <= ns <= limit:
                problem = _stamp_problem(ns, as_of, latest_ns)
                found.append((p, 0, field_error(f"{where(p)}.timestamp", problem)))

    amounts = [t.get("amount") for t in txs]
    quantities = [t.get("quantity") for t in txs]
    prices = [t.get("unit_price") for t in txs]
    if None in amounts or 0 in amounts or quantities.count(None) < n or prices.count(None) < n:
        for p, (a, q, u) in enumerate(zip(amounts, quantities, prices, strict=True)):
            if a is None or a == 0 or q is not None or u is not None:  # the per-line rules decide
                line_errors: list[dict[str, str]] = []
                amounts[p] = _amount(a, q, u, spec.has_money, where(p), line_errors)
                found += [(p, 1, e) for e in line_errors]
        # a line without usable money (an error, or none needed) counts as a purchase
        amounts = [1.0 if a is None else a for a in amounts]
    for k, (first, end) in enumerate(pairwise(starts)):
        if first == end or max(amounts[first:end]) <= 0:  # no line at all: no purchase either
            message = "has no purchase line (only returns): features are undefined"
            found.append((end - 1, 2, field_error(f"customers[{customers[k][0]}].transactions", message)))
    if found:
        found.sort(key=lambda f: f[:2])
        return _canonical([], [], [], ([], [], []), spec, len(customers)), [e for *_, e in found]
    if len(customers) == 1:
        codes = [0] * n
    else:
        codes = np.repeat(np.arange(len(customers), dtype=np.intp), counts).tolist()
    ns_list = [ns_of[s] for s in stamps]
    ids = (
        [t.get("order_id") for t in txs],
        [t.get("category") for t in txs],
        [t.get("product_id") for t in txs],
    )
    return _canonical(codes, ns_list, amounts, ids, spec, len(customers)), []


def _canonical(
    codes: list[int],
    ns: list[int],
    amounts: list[float],
    ids: tuple[list[Any], list[Any], list[Any]],
    spec: FeatureSpec,
    n_customers: int,
) -> LineArrays:
    """Valid lines as arrays: exact duplicates dropped, orders and categories coded.

    ``ids`` holds the order id, category and product id columns.
    """
    order_ids, categories, products = ids
    money = amounts if spec.has_money else [None] * len(codes)
    keys = list(zip(codes, order_ids, ns, money, categories, products, strict=True))
    if len(set(keys)) < len(keys):
        n = len(keys)  # each key's first line: the reversed dict ends on the smallest index
        keep = sorted(dict(zip(reversed(keys), range(n - 1, -1, -1), strict=True)).values())
        codes, ns, amounts = [codes[p] for p in keep], [ns[p] for p in keep], [amounts[p] for p in keep]
        order_ids, categories = [order_ids[p] for p in keep], [categories[p] for p in keep]
    if None in order_ids:  # a line without an order id is the visit at its timestamp
        order_ids = [(k, t) if o is None else o for k, o, t in zip(codes, order_ids, ns, strict=True)]
    index = {o: c for c, o in enumerate(dict.fromkeys(order_ids))}
    lookup = {c: k for k, c in enumerate(spec.categories)}
    other = len(spec.categories)
    return LineArrays(
        customer=np.array(codes, dtype=np.intp),
        order=np.array([index[o] for o in order_ids], dtype=np.intp),
        timestamp=np.array(ns, dtype=np.int64),
        amount=np.array(amounts, dtype=np.float64) if spec.has_money else None,
        category=np.array([lookup.get(c, other) for c in categories], dtype=np.intp)
        if spec.categories
        else None,
        n_customers=n_customers,
    )


def _stamp_problem(ns: int, as_of: dt.datetime, latest_ns: int) -> str:
    if ns == OVERFLOW:
        return OUT_OF_UTC_RANGE
    if ns < 0:
        return "is before 1970-01-01"
    if ns > latest_ns:
        return "is in the future"
    return f"is after as_of {as_of.isoformat()}"


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
