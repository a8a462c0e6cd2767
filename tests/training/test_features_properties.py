"""Properties of the one feature definition (hypothesis, derandomized: the same examples every run)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopper_segments.core.features import OTHER_CATEGORY, rfm_spec, share_name
from shopper_segments.training.frames import clean_lines, compute_features

SPEC = rfm_spec(has_money=True, categories=["x", "y"])
DATE_ONLY = rfm_spec(has_money=False)
START = pd.Timestamp("2010-01-01", tz="UTC").value
TEN_YEARS_NS = 10 * 365 * 86_400 * 10**9
PROPERTIES = settings(
    derandomize=True,
    database=None,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

amounts = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False).filter(
    lambda v: abs(v) >= 0.01
)
line = st.fixed_dictionaries(
    {
        "customer_id": st.sampled_from(["a", "b", "c", "客户"]),
        "order_id": st.one_of(st.none(), st.sampled_from(["o1", "o2", "o3", "o4"])),
        "timestamp": st.integers(min_value=0, max_value=TEN_YEARS_NS).map(lambda ns: START + ns),
        "amount": amounts,
        "category": st.one_of(st.none(), st.sampled_from(["x", "y", "z"])),
        "product_id": st.sampled_from(["p1", "p2", "p3"]),
    }
)


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Lines where every customer has at least one purchase (a valid history)."""
    lines = draw(st.lists(line, min_size=1, max_size=40))
    for cid in {x["customer_id"] for x in lines}:
        if not any(x["customer_id"] == cid and x["amount"] > 0 for x in lines):
            purchase = draw(line.filter(lambda x: x["amount"] > 0))
            lines.append({**purchase, "customer_id": cid})
    return lines


def frame(lines: list[dict[str, Any]]) -> pd.DataFrame:
    out = pd.DataFrame(
        lines, columns=["customer_id", "order_id", "timestamp", "amount", "category", "product_id"]
    )
    out["timestamp"] = pd.to_datetime(out["timestamp"].astype("int64"), unit="ns", utc=True)
    for c in ("customer_id", "order_id", "category", "product_id"):
        out[c] = out[c].astype("string")
    out["amount"] = out["amount"].astype("float64")
    return out


def features(lines: list[dict[str, Any]], spec: Any = SPEC) -> pd.DataFrame:
    data = frame(lines)
    if not spec.has_money:
        data = data.drop(columns="amount")
    clean, _ = clean_lines(data)
    as_of = pd.Timestamp(max(x["timestamp"] for x in lines), tz="UTC") + pd.Timedelta(days=1)
    return compute_features(clean, spec, as_of)


@PROPERTIES
@given(histories())
def test_any_valid_history_gives_finite_features(lines: list[dict[str, Any]]) -> None:
    X = features(lines)
    assert sorted(X.index) == sorted({x["customer_id"] for x in lines})
    values = X.to_numpy(np.float64)
    assert np.isfinite(values).all()
    assert (X["frequency"] >= 1).all()
    assert (X["recency_days"] >= 1).all()  # as_of is a day after the last line
    assert (X["tenure_days"] >= X["recency_days"]).all()
    shares = X[[share_name(c) for c in ["x", "y", OTHER_CATEGORY]]]
    assert ((shares >= 0) & (shares <= 1)).all().all()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)


@PROPERTIES
@given(histories())
def test_date_only_histories_give_finite_features(lines: list[dict[str, Any]]) -> None:
    X = features(lines, DATE_ONLY)
    assert np.isfinite(X.to_numpy(np.float64)).all()
    assert list(X.columns) == DATE_ONLY.names


@PROPERTIES
@given(histories(), st.randoms(use_true_random=False))
def test_line_order_does_not_matter(lines: list[dict[str, Any]], rnd: Any) -> None:
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    a, b = features(lines), features(shuffled)
    pd.testing.assert_index_equal(a.index, b.index)
    np.testing.assert_array_equal(a["frequency"], b["frequency"])
    np.testing.assert_array_equal(a["recency_days"], b["recency_days"])
    np.testing.assert_array_equal(a["tenure_days"], b["tenure_days"])
    # Sums may differ in the last bits with the order of addition, nothing more.
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-6)


@PROPERTIES
@given(histories(), st.data())
def test_splitting_an_orders_lines_keeps_frequency(lines: list[dict[str, Any]], data: st.DataObject) -> None:
    keys = [tuple(x.values()) for x in lines]
    # A purchase line with no exact duplicate (cleaning counts duplicates once).
    purchases = [i for i, x in enumerate(lines) if x["amount"] > 0 and keys.count(keys[i]) == 1]
    if not purchases:
        return
    i = data.draw(st.sampled_from(purchases))
    part = data.draw(st.floats(min_value=0.05, max_value=0.95))
    whole = lines[i]
    # Same order (or, without an order id, the same visit time); new products so no part is a duplicate.
    first = {**whole, "amount": whole["amount"] * part, "product_id": "split-1"}
    second = {**whole, "amount": whole["amount"] - first["amount"], "product_id": "split-2"}
    split = [*lines[:i], first, second, *lines[i + 1 :]]
    before, after = features(lines), features(split)
    pd.testing.assert_index_equal(before.index, after.index)
    np.testing.assert_array_equal(before["frequency"], after["frequency"])
    np.testing.assert_array_equal(before["recency_days"], after["recency_days"])
    np.testing.assert_allclose(before["monetary"], after["monetary"], rtol=1e-9, atol=1e-6)
