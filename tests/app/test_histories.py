"""history_lines (column-wise rules) against a plain per-line statement of the same rules."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from app.errors import field_error
from app.histories import _amount, history_lines
from app.schemas import OUT_OF_UTC_RANGE
from segments_core.features import FeatureSpec, rfm_spec

AS_OF = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2011, 12, 20, tzinfo=dt.UTC)  # earlier than as_of: "in the future" is reachable
PARSE = TypeAdapter(dt.datetime).validate_strings
PLUS_2 = dt.timezone(dt.timedelta(hours=2))
STAMPS = [
    dt.datetime(2011, 3, 1, 10, 0),  # naive: UTC
    dt.datetime(2011, 3, 1, 12, 0, tzinfo=PLUS_2),  # the same instant as the naive one
    dt.datetime(2011, 5, 2, 9, 30, 15, 250, tzinfo=dt.UTC),
    PARSE("2011-06-03T23:59:59.5-05:00"),  # pydantic's TzInfo, as the parser gives it
    PARSE("2011-06-04T04:59:59.5Z"),
    PARSE("9999-12-31T23:00:00-05:00"),  # leaves years 1-9999 in UTC
    dt.datetime(1969, 12, 31, 23, 0, tzinfo=dt.UTC),  # before 1970
    dt.datetime(2011, 12, 25, tzinfo=dt.UTC),  # past latest_allowed: in the future
    dt.datetime(2011, 12, 10, tzinfo=dt.UTC),
]
PREFIX = dt.datetime(2000, 1, 1)  # stamps used by most lines, so that many requests are valid
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def reference(
    customers: list[tuple[int, dict[str, Any]]], spec: FeatureSpec, as_of: dt.datetime, latest: dt.datetime
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The serving rules line by line, with datetime arithmetic instead of nanosecond sums."""
    errors: list[dict[str, str]] = []
    as_of, latest = as_of.astimezone(dt.UTC), latest.astimezone(dt.UTC)
    kept: list[tuple[int, Any, int, Any, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for k, (i, cust) in enumerate(customers):
        purchase = False
        for j, t in enumerate(cust["transactions"]):
            stamp = t["timestamp"]
            stamp = stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp
            where = f"customers[{i}].transactions[{j}]"
            try:
                utc = stamp.astimezone(dt.UTC)
            except OverflowError:
                utc = None
                errors.append(field_error(f"{where}.timestamp", OUT_OF_UTC_RANGE))
            if utc is not None and utc < EPOCH:
                errors.append(field_error(f"{where}.timestamp", "is before 1970-01-01"))
            elif utc is not None and utc > latest:
                errors.append(field_error(f"{where}.timestamp", "is in the future"))
            elif utc is not None and utc > as_of:
                errors.append(field_error(f"{where}.timestamp", f"is after as_of {as_of.isoformat()}"))
            amount = _amount(
                t.get("amount"), t.get("quantity"), t.get("unit_price"), spec.has_money, where, errors
            )
            purchase = purchase or amount is None or amount > 0
            if errors:
                continue
            ns = (utc - EPOCH) // dt.timedelta(microseconds=1) * 1000  # type: ignore[operator]
            money = amount if spec.has_money else None
            key = (k, t.get("order_id"), ns, money, t.get("category"), t.get("product_id"))
            if key not in seen:
                seen.add(key)
                order = t.get("order_id") if t.get("order_id") is not None else (k, ns)
                kept.append((k, order, ns, money, t.get("category")))
        if not purchase:
            message = "has no purchase line (only returns): features are undefined"
            errors.append(field_error(f"customers[{i}].transactions", message))
    orders = list(dict.fromkeys(o for _, o, *_ in kept))
    cats = {c: n for n, c in enumerate(spec.categories)}
    arrays = {
        "customer": [k for k, *_ in kept],
        "order": [orders.index(o) for _, o, *_ in kept],
        "timestamp": [ns for _, _, ns, *_ in kept],
        "amount": [m for *_, m, _ in kept] if spec.has_money else None,
        "category": [cats.get(c, len(cats)) for *_, c in kept] if spec.categories else None,
    }
    return arrays, errors


def random_line(rng: random.Random, valid: bool) -> dict[str, Any]:
    line: dict[str, Any] = {
        "timestamp": PREFIX.replace(day=rng.randint(1, 3), hour=rng.randint(0, 1))
        if valid or rng.random() < 0.7
        else rng.choice(STAMPS)
    }
    money = rng.random()
    if money < 0.6 or valid:
        line["amount"] = rng.choice([12.5, 3, -4.25, 99.99, 0.01]) if valid else rng.choice([12.5, -3, 0, 7])
    elif money < 0.85:
        line["quantity"] = rng.choice([2, -1, 0, None, 1.5])
        line["unit_price"] = rng.choice([3.5, 0, None, 2])
        if rng.random() < 0.2:
            line["amount"] = 5.0
    for field, pool in (
        ("order_id", ["A", "B", "C"]),
        ("category", ["x", "y", "z"]),
        ("product_id", ["p", "q"]),
    ):
        if rng.random() < 0.7:
            line[field] = rng.choice(pool)
    return line


def random_request(rng: random.Random) -> list[tuple[int, dict[str, Any]]]:
    valid = rng.random() < 0.5
    customers = []
    for i in range(rng.randint(1, 4)):
        lines = [random_line(rng, valid) for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.4:
            lines.append(dict(rng.choice(lines)))  # an exact duplicate line
        if valid:
            lines.append({"timestamp": PREFIX, "amount": 1.0})  # at least one purchase
        customers.append((i * 2 + 1, {"transactions": lines}))  # request indices differ from codes
    return customers


SPECS = [rfm_spec(True), rfm_spec(False), rfm_spec(True, ["x", "y"])]


@pytest.mark.parametrize("seed", range(400))
def test_column_rules_equal_the_per_line_statement(seed: int) -> None:
    rng = random.Random(seed)
    customers = random_request(rng)
    spec = SPECS[seed % len(SPECS)]
    lines, errors = history_lines(customers, spec, AS_OF, LATEST)
    expected, expected_errors = reference(customers, spec, AS_OF, LATEST)
    assert errors == expected_errors
    if errors:
        return
    assert lines.n_customers == len(customers)
    for name, values in expected.items():
        got = getattr(lines, name)
        if values is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, np.array(values), err_msg=name)


def test_the_generator_reaches_both_valid_and_failing_requests() -> None:
    outcomes = [
        bool(reference(random_request(random.Random(s)), SPECS[0], AS_OF, LATEST)[1]) for s in range(400)
    ]
    assert 100 < sum(outcomes) < 300


def test_errors_come_in_line_order_across_customers() -> None:
    customers = [
        (
            0,
            {"transactions": [{"timestamp": STAMPS[7], "amount": -1.0}, {"timestamp": PREFIX, "amount": -2}]},
        ),
        (3, {"transactions": [{"timestamp": STAMPS[5], "quantity": 2}, {"timestamp": PREFIX, "amount": 0}]}),
    ]
    _, errors = history_lines(customers, rfm_spec(True), AS_OF, LATEST)
    zero = "is zero: a line is a purchase (>0) or a return (<0)"
    assert errors == [
        field_error("customers[0].transactions[0].timestamp", "is in the future"),
        field_error(
            "customers[0].transactions", "has no purchase line (only returns): features are undefined"
        ),
        field_error("customers[3].transactions[0].timestamp", OUT_OF_UTC_RANGE),
        field_error(
            "customers[3].transactions[0].unit_price", "is required with the other of quantity/unit_price"
        ),
        field_error("customers[3].transactions[1].amount", zero),
    ]


def test_a_customer_without_lines_has_no_purchase() -> None:
    """The schema refuses empty histories; the rules still do not let one through."""
    customers = [(0, {"transactions": []}), (1, {"transactions": [{"timestamp": PREFIX, "amount": 2.0}]})]
    _, errors = history_lines(customers, rfm_spec(True), AS_OF, LATEST)
    message = "has no purchase line (only returns): features are undefined"
    assert errors == [field_error("customers[0].transactions", message)]
