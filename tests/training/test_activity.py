"""Monthly customers, orders and revenue of the training lines (stored in the metadata)."""

from __future__ import annotations

import pandas as pd

from shopper_segments.training.activity import monthly_activity
from shopper_segments.training.frames import clean


def lines(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def test_counts_per_month_with_returns_new_customers_and_an_empty_month() -> None:
    data = lines(
        [
            ("a", "o1", "2011-01-03T10:00:00", 10.0),
            ("a", "o1", "2011-01-03T10:00:00", 5.0),
            ("b", "o2", "2011-01-31T23:59:59", 20.0),
            ("a", "o3", "2011-03-01T00:00:00", 7.5),
            ("a", "r1", "2011-03-02T00:00:00", -2.5),
            ("c", "r2", "2011-03-05T00:00:00", -1.0),
            ("c", "o4", "2011-04-01T00:00:00", 3.0),
        ]
    )
    assert monthly_activity(data) == [
        {
            "month": "2011-01",
            "customers": 2,
            "new_customers": 2,
            "orders": 2,
            "revenue": 35.0,
            "purchase_revenue": 35.0,
        },
        {
            "month": "2011-02",
            "customers": 0,
            "new_customers": 0,
            "orders": 0,
            "revenue": 0.0,
            "purchase_revenue": 0.0,
        },
        {
            "month": "2011-03",
            "customers": 1,
            "new_customers": 0,
            "orders": 1,
            "revenue": 4.0,
            "purchase_revenue": 7.5,
        },
        {
            "month": "2011-04",
            "customers": 1,
            "new_customers": 1,
            "orders": 1,
            "revenue": 3.0,
            "purchase_revenue": 3.0,
        },
    ]


def test_histories_without_money_count_every_line_as_a_purchase() -> None:
    data = lines([("a", "o1", "2012-12-31T23:00:00", 0.0), ("b", "o2", "2013-01-01T01:00:00", 0.0)])
    out = monthly_activity(data.drop(columns=["amount"]))
    assert out == [
        {"month": "2012-12", "customers": 1, "new_customers": 1, "orders": 1},
        {"month": "2013-01", "customers": 1, "new_customers": 1, "orders": 1},
    ]
    assert monthly_activity(data.iloc[:0]) == []


def test_without_order_ids_orders_are_customer_days() -> None:
    """A date-only log: two customers on the same day are two orders, one customer twice a day one."""
    visits = pd.DataFrame(
        {
            "customer_id": ["a", "b", "a", "a", "c"],
            "timestamp": pd.to_datetime(
                ["2011-01-03", "2011-01-03", "2011-01-03", "2011-01-04", "2011-02-01"], utc=True
            ),
        }
    )
    cleaned = clean(visits).lines  # the training path: each customer's visit at one timestamp
    out = monthly_activity(cleaned)
    assert [m["orders"] for m in out] == [3, 1]  # a on the 3rd and 4th, b on the 3rd; c once
    assert [m["customers"] for m in out] == [2, 1]


def test_an_order_id_shared_by_two_customers_counts_for_each() -> None:
    data = lines([("a", "o1", "2011-01-03T10:00:00", 1.0), ("b", "o1", "2011-01-03T10:00:00", 2.0)])
    assert monthly_activity(data)[0]["orders"] == 2
