"""The shared feature definition on hand-computed cases (through the DataFrame edge)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopper_segments.core.features import (
    FeatureSpec,
    LineArrays,
    feature_matrix,
    rfm_spec,
)
from shopper_segments.core.transforms import transform_features
from shopper_segments.training.frames import clean_lines, compute_features, top_categories

AS_OF = pd.Timestamp("2024-01-31T00:00:00Z")


def lines(rows: list[tuple], columns=("customer_id", "order_id", "timestamp", "amount")) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).astype("datetime64[ns, UTC]")
    for col in ("customer_id", "order_id", "category"):
        if col in frame:
            frame[col] = frame[col].astype("string")
    return frame


def features_of(frame: pd.DataFrame, spec: FeatureSpec | None = None) -> pd.DataFrame:
    spec = spec or rfm_spec(has_money="amount" in frame)
    cleaned, _ = clean_lines(frame)
    return compute_features(cleaned, spec, AS_OF)


def test_single_order_customer() -> None:
    f = features_of(lines([("c1", "o1", "2024-01-21", 30.0), ("c1", "o1", "2024-01-21", 20.0)])).loc["c1"]
    assert f["frequency"] == 1
    assert f["monetary"] == 50.0
    assert f["avg_order_value"] == 50.0
    assert f["recency_days"] == 10.0
    assert f["tenure_days"] == 10.0


def test_return_reduces_net_spend_and_is_not_an_order() -> None:
    f = features_of(
        lines(
            [
                ("c1", "o1", "2024-01-01", 100.0),
                ("c1", "o2", "2024-01-11", 40.0),
                ("c1", "C3", "2024-01-21", -30.0),  # a return, after the last purchase
            ]
        )
    ).loc["c1"]
    assert f["frequency"] == 2
    assert f["monetary"] == 110.0
    assert f["avg_order_value"] == 55.0
    assert f["recency_days"] == 20.0  # from the last purchase, not the return
    assert f["tenure_days"] == 30.0


def test_all_orders_on_one_day() -> None:
    f = features_of(
        lines(
            [
                ("c1", "o1", "2024-01-30T08:00", 10.0),
                ("c1", "o2", "2024-01-30T12:00", 20.0),
                ("c1", "o3", "2024-01-30T18:00", 30.0),
            ]
        )
    ).loc["c1"]
    assert f["frequency"] == 3
    assert f["avg_order_value"] == 20.0
    assert f["recency_days"] == pytest.approx(0.25)
    assert f["tenure_days"] == pytest.approx(16 / 24)


def test_customer_with_only_returns_has_no_features() -> None:
    out = features_of(lines([("c1", "o1", "2024-01-21", -30.0), ("c2", "o2", "2024-01-02", 9.0)]))
    assert list(out.index) == ["c2"]


def test_date_only_history_counts_visits() -> None:
    frame = lines(
        [("c1", None, "2024-01-01"), ("c1", None, "2024-01-01"), ("c1", None, "2024-01-11")],
        columns=("customer_id", "order_id", "timestamp"),
    )
    spec = rfm_spec(has_money=False)
    assert spec.names == ["recency_days", "frequency", "tenure_days"]
    f = features_of(frame, spec).loc["c1"]
    assert f["frequency"] == 2
    assert f["recency_days"] == 20.0
    assert f["tenure_days"] == 30.0


def test_category_shares_and_unseen_category_counts_as_other() -> None:
    cols = ("customer_id", "order_id", "timestamp", "amount", "category")
    train = lines(
        [
            ("a", "1", "2024-01-01", 60.0, "food"),
            ("a", "1", "2024-01-01", 30.0, "toys"),
            ("b", "2", "2024-01-02", 10.0, "garden"),
        ],
        cols,
    )
    assert top_categories(train, 2) == ["food", "toys"]
    spec = rfm_spec(True, ["food", "toys"])
    assert spec.names[-3:] == ["share_food", "share_toys", "share_other"]
    serve = lines(
        [
            ("c", "1", "2024-01-05", 50.0, "food"),
            ("c", "1", "2024-01-05", 30.0, "never-seen"),
            ("c", "2", "2024-01-06", 20.0, None),
            ("c", "3", "2024-01-07", -40.0, "food"),
        ],
        cols,
    )
    f = features_of(serve, spec).loc["c"]
    # shares are of purchase spend (returns excluded): 50 food, 30 + 20 other
    assert f["share_food"] == pytest.approx(0.5)
    assert f["share_toys"] == 0.0
    assert f["share_other"] == pytest.approx(0.5)
    assert f["monetary"] == 60.0


def test_transforms_log_heavy_tails_and_keep_sign() -> None:
    spec = rfm_spec(True)
    X = np.array([[0.0, 1.0, -9.0, 99.0, 0.0]])
    Xt = transform_features(X, spec)
    np.testing.assert_allclose(Xt[0], [0.0, np.log(2), -np.log(10), np.log(100), 0.0])


def test_spec_round_trip_and_unknown_definition_refused() -> None:
    spec = rfm_spec(True, ["x"])
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="unknown feature definition"):
        FeatureSpec.from_dict({**spec.to_dict(), "definition": "rfm-v0"})


def test_line_order_does_not_change_features() -> None:
    rows = [("c1", f"o{i % 4}", f"2024-01-{1 + i:02d}", float(i + 1)) for i in range(12)]
    a = features_of(lines(rows))
    b = features_of(lines(rows[::-1]))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("with_money", [True, False])
def test_feature_matrix_on_arrays_equals_a_groupby_for_any_code_dtype(with_money: bool) -> None:
    """The core on seeded codes (returns, shared orders, a customer without lines) vs pandas."""
    rng = np.random.default_rng(21)
    n, n_cust, cats = 5_000, 300, ["x", "y", "z"]
    customer = rng.integers(0, n_cust - 1, n)  # the last customer has no lines at all
    order = rng.integers(0, 900, n)  # order ids shared across customers
    timestamp = rng.integers(0, 10**17, n)
    amount = np.round(rng.normal(20, 30, n), 2) if with_money else None
    category = rng.integers(0, len(cats) + 1, n)
    spec = rfm_spec(with_money, cats)
    frame = pd.DataFrame({"c": customer, "o": order, "ts": timestamp, "a": 1.0 if amount is None else amount})
    frame["cat"] = category
    buys = frame[frame["a"] > 0]
    per = buys.groupby("c").agg(last=("ts", "max"), first=("ts", "min"), frequency=("o", "nunique"))
    spend = (
        buys.groupby(["c", "cat"])["a"]
        .sum()
        .unstack(fill_value=0.0)
        .reindex(columns=range(4), fill_value=0.0)
    )
    expected = {
        "recency_days": (10**17 - per["last"]) / 86_400e9,
        "frequency": per["frequency"].astype(float),
        "tenure_days": (10**17 - per["first"]) / 86_400e9,
        **{f"share_{c}": spend[j] / spend.sum(axis=1) for j, c in enumerate([*cats, "other"])},
    }
    if with_money:
        expected["monetary"] = frame.groupby("c")["a"].sum().reindex(per.index)
        expected["avg_order_value"] = expected["monetary"] / expected["frequency"]
    for dtype in (np.int32, np.intp):
        arrays = LineArrays(
            customer.astype(dtype), order.astype(dtype), timestamp, amount, category.astype(dtype), n_cust
        )
        X, has_purchase = feature_matrix(arrays, spec, 10**17)
        assert list(np.flatnonzero(has_purchase)) == list(per.index)
        for j, name in enumerate(spec.names):
            np.testing.assert_allclose(
                X[has_purchase, j], expected[name].to_numpy(), rtol=1e-12, err_msg=name
            )
