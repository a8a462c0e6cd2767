"""Posted customer histories -> canonical line arrays, by the rulebook, with an outcome per customer."""

from __future__ import annotations

import datetime as dt
import functools
from itertools import accumulate
from typing import Any, NamedTuple

import numpy as np

from shopper_segments.app.drops import drop_reasons
from shopper_segments.app.errors import field_error
from shopper_segments.core.features import FeatureSpec, LineArrays
from shopper_segments.core.results import Status
from shopper_segments.core.rules import (
    DROP_CODES,
    MONEY_OUTCOMES,
    is_purchase,
    line_money,
    parse_timestamp,
)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are UTC (the rulebook's ``time_zone`` rule)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def to_ns(value: dt.datetime) -> int:
    """Exact nanoseconds since 1970-01-01 UTC of an aware datetime (no float rounding)."""
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


class Histories(NamedTuple):
    """The outcome of each posted history, and the lines of those that can be assigned."""

    lines: LineArrays  # customers of ``ok`` only, coded 0..len(ok)-1
    ok: list[int]  # positions in the ``customers`` argument
    status: list[Status]
    errors: list[list[dict[str, str]]]
    dropped: list[dict[str, int]]


@functools.lru_cache(maxsize=16_384)
def _stamp_ns(stamp: Any, timezone: str) -> int | str:
    """Nanoseconds since 1970 UTC of a line's timestamp text, or the rule's message.

    Once per distinct (stamp, timezone): a customer's history is posted again and again, and
    the datetime arithmetic of :func:`to_ns` costs as much as the rulebook's own (cached)
    reading. (Stamps are hashable: :func:`history_lines` keys a dict by them.)
    """
    try:
        return to_ns(parse_timestamp(stamp, timezone))
    except ValueError as exc:
        return str(exc)


def history_lines(
    customers: list[tuple[int, dict[str, Any]]],
    spec: FeatureSpec,
    as_of: dt.datetime,
    latest_allowed: dt.datetime,
) -> Histories:
    """Apply the rulebook (:mod:`segments_core.rules`) to posted histories.

    A customer with an invalid line is ``invalid`` (every such line named); lines the
    rulebook drops (exact duplicates, zero quantity, price or amount) are counted per
    customer; a customer left without a purchase line is ``no_purchases``.

    Parameters
    ----------
    customers : list of (index in the request, customer as plain data)
        Transactions are dicts with the fields of :class:`app.schemas.Transaction`; the
        timestamp is its text (read here by the rulebook, naive in the model's timezone).
    spec : FeatureSpec
        The model's features; decides whether money and categories are needed.
    as_of : datetime
        No line may be later than this.
    latest_allowed : datetime
        Timestamps past this (now plus a tolerance) are in the future.
    """
    m = len(customers)
    counts = [len(c["transactions"]) for _, c in customers]
    txs = [t for _, c in customers for t in c["transactions"]]
    starts = list(accumulate(counts, initial=0))
    owner = np.repeat(np.arange(m, dtype=np.intp), counts)
    errors: list[list[dict[str, str]]] = [[] for _ in range(m)]

    def where(p: int) -> str:
        k = int(owner[p])
        return f"customers[{customers[k][0]}].transactions[{p - starts[k]}]"

    stamps = [t["timestamp"] for t in txs]
    parsed = {s: _stamp_ns(s, spec.timezone) for s in dict.fromkeys(stamps)}
    as_of_ns, latest_ns = to_ns(as_utc(as_of)), to_ns(as_utc(latest_allowed))
    for stamp, value in parsed.items():
        if isinstance(value, int) and not 0 <= value <= min(as_of_ns, latest_ns):
            parsed[stamp] = _out_of_range(value, as_of, latest_ns)
    ns = [parsed[s] for s in stamps]
    if all(isinstance(value, int) for value in parsed.values()):
        stamp = np.array(ns, dtype=np.int64)
    else:
        for p, value in enumerate(ns):
            if isinstance(value, str):
                errors[owner[p]].append(field_error(f"{where(p)}.timestamp", value))
        stamp = np.array([v if isinstance(v, int) else 0 for v in ns], dtype=np.int64)  # 0: never read

    def column(name: str) -> np.ndarray | None:
        values = [t.get(name) for t in txs]
        if values.count(None) == len(values):  # no line gives it: line_money's NaNs
            return None
        return np.array(values, dtype=np.float64)  # None -> NaN

    amount, outcome = line_money(
        np.array([t.get("amount") for t in txs], dtype=np.float64),  # None -> NaN; sets the length
        column("quantity"),
        column("unit_price"),
        spec.has_money,
    )
    for p in (outcome >= 10).nonzero()[0].tolist():
        _rule, name, message = MONEY_OUTCOMES[int(outcome[p])]
        errors[owner[p]].append(field_error(f"{where(p)}.{name}" if name else where(p), message))

    valid = np.array([not e for e in errors], dtype=bool)
    usable = valid[owner] if len(txs) else np.zeros(0, dtype=bool)
    given = {f: [t.get(f) for t in txs] for f in ("order_id", "category")}  # read once, used twice
    reason = drop_reasons(txs, owner, ns, stamp, amount if spec.has_money else None, outcome, usable, given)
    keep = usable & (reason == 0)
    dropped: list[dict[str, int]] = [{} for _ in range(m)]
    for p in reason.nonzero()[0].tolist():
        code = DROP_CODES[int(reason[p]) - 1]
        counts_k = dropped[owner[p]]
        counts_k[code] = counts_k.get(code, 0) + 1
    purchase = keep & is_purchase(amount if spec.has_money else None, len(txs))
    has_purchase = np.zeros(m, dtype=bool)
    has_purchase[owner[purchase]] = True
    status: list[Status] = [
        "invalid" if not valid[k] else "assigned" if has_purchase[k] else "no_purchases" for k in range(m)
    ]
    ok = [k for k in range(m) if status[k] == "assigned"]
    lines = _arrays(given, owner, ns, stamp, amount, keep & has_purchase[owner], spec, ok)
    return Histories(lines, ok, status, errors, dropped)


def _out_of_range(ns: int, as_of: dt.datetime, latest_ns: int) -> str:
    if ns < 0:
        return "is before 1970-01-01"
    if ns > latest_ns:
        return "is in the future"
    return f"is after as_of {as_of.isoformat()}"


def _arrays(
    given: dict[str, list[Any]],
    owner: np.ndarray,
    ns: list[Any],
    stamp: np.ndarray,
    amount: np.ndarray,
    keep: np.ndarray,
    spec: FeatureSpec,
    ok: list[int],
) -> LineArrays:
    """The kept lines of the ``ok`` customers as arrays, customers coded by their place in ``ok``."""
    rows = keep.nonzero()[0]
    if not ok or ok[-1] == len(ok) - 1:  # ok is 0, 1, ...: a customer's code is its place
        codes = owner[rows]  # (the kept lines are ok customers' only)
    else:
        code_of = np.full(len(owner) and int(owner.max()) + 1, -1, dtype=np.intp)
        code_of[ok] = np.arange(len(ok))
        codes = code_of[owner[rows]]
    at = rows.tolist()
    orders: dict[Any, int] = {}
    order = []
    oids = given["order_id"]
    for c, p in zip(codes.tolist(), at, strict=True):
        oid = oids[p]
        key = (c, ns[p]) if oid is None else oid  # a line without an order id: the visit at its time
        order.append(orders.setdefault(key, len(orders)))
    category = None
    if spec.categories:
        lookup = {c: k for k, c in enumerate(spec.categories)}
        other = len(spec.categories)
        cats = given["category"]
        category = np.array([lookup.get(str(cats[p]), other) for p in at], dtype=np.intp)
    return LineArrays(
        customer=codes.astype(np.intp, copy=False),
        order=np.array(order, dtype=np.intp),
        timestamp=stamp[rows],
        amount=amount[rows] if spec.has_money else None,
        category=category,
        n_customers=len(ok),
    )
