"""app/histories.py: a request's customers coded by their place among those assigned."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from shopper_segments.app.histories import history_lines, to_ns
from shopper_segments.core.features import feature_matrix, rfm_spec

AS_OF = dt.datetime(2011, 12, 10, tzinfo=dt.UTC)
FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
SPEC = rfm_spec(True, ["garden"])


def line(order: str, day: int, money: dict[str, float], category: str = "garden") -> dict[str, Any]:
    return {"order_id": order, "timestamp": f"2011-06-{day:02d}T10:00:00Z", "category": category, **money}


CUSTOMERS: list[dict[str, Any]] = [
    {
        "customer_id": "bad",
        "transactions": [line("1", 1, {"amount": 5.0}), {"timestamp": "soon", "amount": 1.0}],
    },
    {
        "customer_id": "a",
        "transactions": [line("2", 2, {"amount": 12.5}), line("3", 9, {"amount": 4.0}, "toys")],
    },
    {"customer_id": "returns", "transactions": [line("4", 3, {"amount": -3.0})]},
    {
        "customer_id": "b",
        "transactions": [
            line("5", 4, {"quantity": 2, "unit_price": 1.5}),
            line("5", 4, {"quantity": 1, "unit_price": 0.0}),
        ],
    },
]


def features_alone(customer: dict[str, Any]) -> np.ndarray:
    found = history_lines([(0, customer)], SPEC, AS_OF, FAR)
    return feature_matrix(found.lines, SPEC, to_ns(AS_OF))[0][0]


def test_mixed_request_codes_the_assigned_customers_in_order() -> None:
    found = history_lines(list(enumerate(CUSTOMERS)), SPEC, AS_OF, FAR)
    assert found.status == ["invalid", "assigned", "no_purchases", "assigned"]
    assert found.ok == [1, 3]
    assert found.errors[0][0]["field"] == "customers[0].transactions[1].timestamp"
    assert found.dropped[3] == {"zero_price": 1}
    assert found.lines.n_customers == 2
    assert found.lines.customer.tolist() == [0, 0, 1]
    X, has_purchase = feature_matrix(found.lines, SPEC, to_ns(AS_OF))
    assert has_purchase.all()
    # each customer's features are the ones it gets when posted alone
    np.testing.assert_array_equal(X[0], features_alone(CUSTOMERS[1]))
    np.testing.assert_array_equal(X[1], features_alone(CUSTOMERS[3]))


def test_lines_without_quantity_or_price_read_as_missing() -> None:
    """No line gives quantity or unit_price: the same outcome as when one line sets them to null."""
    amounts = [
        {"customer_id": "a", "transactions": [line("1", 1, {"amount": 0.0}), line("2", 2, {"amount": 3.0})]}
    ]
    nulls = [
        {
            "customer_id": "a",
            "transactions": [*amounts[0]["transactions"], line("3", 3, {"amount": 1.0, "quantity": None})],
        }
    ]
    one, other = (history_lines(list(enumerate(c)), SPEC, AS_OF, FAR) for c in (amounts, nulls))
    assert one.dropped == other.dropped == [{"zero_amount": 1}]
    assert one.lines.amount.tolist() == [3.0] and other.lines.amount.tolist() == [3.0, 1.0]
    money_less = [{"customer_id": "a", "transactions": [{"timestamp": "2011-06-01T10:00:00Z"}]}]
    found = history_lines(list(enumerate(money_less)), SPEC, AS_OF, FAR)
    assert (
        found.status == ["invalid"] and found.errors[0][0]["field"] == "customers[0].transactions[0].amount"
    )


def _with_repeats(seed: int) -> list[tuple[int, dict[str, Any]]]:
    """40 customers: exact repeats, lines sharing customer, time and amount but not product,
    zero amounts as 0.0 and -0.0, repeats of invalid customers' lines, lines without order ids."""
    rng = np.random.default_rng(seed)
    customers = []
    for c in range(40):
        lines = []
        for _ in range(int(rng.integers(1, 8))):
            amount = float(rng.choice([5.0, 2.5, 0.0, -0.0, -1.0]))
            base = {"timestamp": f"2011-06-{int(rng.integers(1, 4)):02d}T10:00:00Z", "amount": amount}
            if rng.random() < 0.7:
                base["order_id"] = str(int(rng.integers(0, 3)))
            base["product_id"] = str(int(rng.integers(0, 2)))
            lines += [base] * int(rng.integers(1, 3))
        if c % 9 == 0:
            lines.append({"timestamp": "never", "amount": 1.0})  # the customer is invalid
        customers.append((c, {"customer_id": f"c{c}", "transactions": lines}))
    return customers


def test_the_numeric_prefilter_finds_every_exact_duplicate(monkeypatch: Any) -> None:
    """Above PREFILTER_LINES lines only those sharing customer, time and amount have their keys
    compared: the outcome is the same as comparing every line's key."""
    from shopper_segments.app import drops

    spec = rfm_spec(True)
    for seed in range(5):
        customers = _with_repeats(seed)
        assert sum(len(c["transactions"]) for _, c in customers) >= drops.PREFILTER_LINES
        filtered = history_lines(customers, spec, AS_OF, FAR)
        monkeypatch.setattr(drops, "PREFILTER_LINES", 10**9)  # every line's key compared
        every = history_lines(customers, spec, AS_OF, FAR)
        monkeypatch.undo()
        assert filtered.dropped == every.dropped and filtered.status == every.status
        assert sum(d.get("duplicate_lines", 0) for d in filtered.dropped) > 0
        for a, b in zip(filtered.lines, every.lines, strict=True):
            assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
