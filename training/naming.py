"""Readable segment names and one-line descriptions from centroid profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

# Prototype profiles as percentiles against the population: r = recency rank (1 is
# the most recent), f = frequency, m = net spend, t = tenure. Marketers' RFM vocabulary.
PROTOTYPES: dict[str, dict[str, float]] = {
    "Champions": {"r": 0.85, "f": 0.92, "m": 0.92},
    "Loyal": {"r": 0.65, "f": 0.75, "m": 0.7},
    "Big spenders": {"r": 0.55, "f": 0.45, "m": 0.85},
    "Potential loyalists": {"r": 0.8, "f": 0.55, "m": 0.5},
    "New": {"r": 0.9, "f": 0.15, "m": 0.3, "t": 0.05},
    "Promising": {"r": 0.7, "f": 0.3, "m": 0.35, "t": 0.5},
    "Need attention": {"r": 0.5, "f": 0.5, "m": 0.5},
    "At risk": {"r": 0.2, "f": 0.7, "m": 0.7},
    "Can't lose them": {"r": 0.08, "f": 0.9, "m": 0.9},
    "Hibernating": {"r": 0.25, "f": 0.25, "m": 0.3},
    "Lost": {"r": 0.05, "f": 0.1, "m": 0.1},
}
RFM_AXES = {"r": "recency_days", "f": "frequency", "m": "monetary", "t": "tenure_days"}


def plural(count: float, word: str, plural_form: str | None = None) -> str:
    """``1 order``, ``2 orders``, ``1.5 orders``, ``1,200 days`` (one decimal unless whole).

    Parameters
    ----------
    count : float
        The number; only exactly 1 takes the singular.
    word : str
        The singular noun.
    plural_form : str, optional
        The plural when it is not ``word + "s"``.
    """
    shown = f"{count:,.0f}" if float(count).is_integer() else f"{count:,.1f}"
    return f"{shown} {word if count == 1 else plural_form or word + 's'}"


def money(value: float, currency: str | None) -> str:
    """``GBP 1,234.50`` (or ``1,234.50`` without a currency); whole amounts above 1,000 lose the pence."""
    amount = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"
    return f"{currency} {amount}" if currency else amount


def _percentile(population: pd.Series, value: float) -> float:
    return float((population < value).mean() + 0.5 * (population == value).mean())


def name_segments(
    features: pd.DataFrame, labels: np.ndarray, is_rfm: bool, currency: str | None = None
) -> list[dict[str, str]]:
    """Name and describe each segment, names unique within the model.

    Parameters
    ----------
    features : DataFrame
        Customers' features in original units.
    labels : ndarray
        Segment label per customer (0..k-1).
    is_rfm : bool
        True for transaction features (RFM vocabulary), False for table columns.
    currency : str, optional
        ISO 4217 code of the money columns, shown with the median spend.

    Returns
    -------
    list of dict
        Per label in order: ``name`` and ``description``.
    """
    k = int(labels.max()) + 1
    medians = features.groupby(labels).median().reindex(range(k))
    names = _rfm_names(features, medians) if is_rfm else _table_names(features, medians)
    descriptions = [
        _rfm_description(features, medians.iloc[i], currency)
        if is_rfm
        else _table_description(features, medians.iloc[i])
        for i in range(k)
    ]
    return [{"name": n, "description": d} for n, d in zip(names, descriptions, strict=True)]


def _rfm_names(features: pd.DataFrame, medians: pd.DataFrame) -> list[str]:
    axes = {a: col for a, col in RFM_AXES.items() if col in features}
    k = len(medians)
    proto_names = list(PROTOTYPES)
    cost = np.zeros((k, len(proto_names)))
    for i in range(k):
        ranks = {a: _percentile(features[col], medians.iloc[i][col]) for a, col in axes.items()}
        ranks["r"] = 1.0 - ranks["r"]  # fewer days since the last order ranks higher
        for j, proto in enumerate(proto_names):
            shared = [a for a in PROTOTYPES[proto] if a in ranks]
            cost[i, j] = sum((ranks[a] - PROTOTYPES[proto][a]) ** 2 for a in shared) / len(shared)
    rows, cols = linear_sum_assignment(cost)
    names = [f"Segment {i}" for i in range(k)]
    for i, j in zip(rows, cols, strict=True):
        names[i] = proto_names[j]
    return names


def _level(z: float) -> str:
    return "High" if z > 0.5 else "Low" if z < -0.5 else "Mid"


def _table_names(features: pd.DataFrame, medians: pd.DataFrame) -> list[str]:
    mean, std = features.mean(), features.std(ddof=0).replace(0, 1.0)
    names: list[str] = []
    for i in range(len(medians)):
        z = (medians.iloc[i] - mean) / std
        top = z.abs().sort_values(ascending=False).index[:2]
        name = ", ".join(f"{_level(float(z[c]))} {c}" for c in top)
        base, n = name, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        names.append(name)
    return names


def _rfm_description(features: pd.DataFrame, med: pd.Series, currency: str | None = None) -> str:
    pop = features.median()
    orders = float(med["frequency"])
    how_often = (
        "buys often"
        if orders > pop["frequency"]
        else "buys rarely"
        if orders < pop["frequency"]
        else "buys as often as most"
    )
    parts = [f"{how_often} ({plural(orders, 'order')})"]
    if "monetary" in med and pop["monetary"] > 0:
        spend = money(float(med["monetary"]), currency)
        parts.append(f"spent {spend}, {med['monetary'] / pop['monetary']:.1f}x the median")
    parts.append(f"last order {plural(round(float(med['recency_days'])), 'day')} ago")
    parts.append(f"customer for {plural(round(float(med['tenure_days'])), 'day')}")
    return ", ".join(parts)


def _table_description(features: pd.DataFrame, med: pd.Series) -> str:
    pop = features.median()
    return ", ".join(f"{c} {med[c]:g} (median {pop[c]:g})" for c in features.columns)
