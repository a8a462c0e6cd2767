"""Segment names follow the profiles and are unique."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopper_segments.training.naming import money, name_segments, plural


def rfm_population() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    groups = {  # recency, frequency, monetary, tenure
        0: (5, 20, 5000, 360),  # recent, frequent, big: Champions
        1: (300, 1, 50, 300),  # long gone, one small order: Lost
        2: (7, 1, 80, 7),  # just arrived: New
        3: (200, 12, 3000, 350),  # used to buy a lot, not lately: At risk / Can't lose them
    }
    rows, labels = [], []
    for label, (r, f, m, t) in groups.items():
        for _ in range(50):
            jitter = rng.uniform(0.9, 1.1, 4)
            rows.append(
                [r * jitter[0], round(f * jitter[1]), m * jitter[2], m * jitter[2] / max(f, 1), t * jitter[3]]
            )
            labels.append(label)
    cols = ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"]
    return pd.DataFrame(rows, columns=cols), np.array(labels)


def test_rfm_names_follow_profiles() -> None:
    X, labels = rfm_population()
    names = [n["name"] for n in name_segments(X, labels, is_rfm=True)]
    assert names[0] == "Champions"
    assert names[1] == "Lost"
    assert names[2] == "New"
    assert names[3] in {"At risk", "Can't lose them"}
    assert len(set(names)) == 4


def test_descriptions_carry_measured_figures() -> None:
    X, labels = rfm_population()
    desc = name_segments(X, labels, is_rfm=True)[0]["description"]
    assert desc.startswith("buys often (20 orders)")
    assert "x the median" in desc and "last order 5 days ago" in desc


def test_table_names_are_unique_and_use_column_names() -> None:
    X = pd.DataFrame({"income": [10, 11, 90, 91, 10, 12], "score": [90, 91, 10, 11, 10, 12]})
    names = [n["name"] for n in name_segments(X, np.array([0, 0, 1, 1, 2, 2]), is_rfm=False)]
    assert len(set(names)) == 3
    assert names[0].startswith("High score") or "Low income" in names[0]


def test_counts_are_pluralised_only_above_one() -> None:
    assert plural(1, "order") == "1 order"
    assert plural(2, "order") == "2 orders"
    assert plural(1.5, "order") == "1.5 orders"
    assert plural(0, "day") == "0 days"
    assert plural(1200, "day") == "1,200 days"
    X, labels = rfm_population()
    described = name_segments(X, labels, is_rfm=True)
    assert described[1]["description"].startswith("buys rarely (1 order),")
    assert described[2]["description"].startswith("buys rarely (1 order),")
    assert all("1 orders" not in d["description"] for d in described)
    single_day = X.assign(recency_days=1.0, tenure_days=1.0)
    text = name_segments(single_day, labels, is_rfm=True)[0]["description"]
    assert "last order 1 day ago" in text and "customer for 1 day" in text


def test_spend_is_labelled_with_the_currency_when_given() -> None:
    X, labels = rfm_population()
    champions = X[labels == 0]["monetary"].median()
    with_gbp = name_segments(X, labels, is_rfm=True, currency="GBP")[0]["description"]
    assert f"spent {money(champions, 'GBP')}, " in with_gbp and with_gbp.count("GBP ") == 1
    assert money(champions, "GBP").startswith("GBP 5,")  # about 5,000 in the data's units
    plain = name_segments(X, labels, is_rfm=True)[0]["description"]
    assert "GBP" not in plain and f"spent {money(champions, None)}, " in plain
    assert money(12.5, "EUR") == "EUR 12.50" and money(-3, None) == "-3.00"
