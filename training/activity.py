"""Customers, orders and revenue per calendar month of the cleaned training lines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def monthly_activity(lines: pd.DataFrame) -> list[dict[str, Any]]:
    """Per calendar month (UTC) of cleaned canonical lines.

    Purchase lines are those with a positive amount (every line without money),
    as in :func:`training.frames.compute_features`.

    Returns
    -------
    list of dict
        One entry per month from the first to the last, in order: ``month``
        (``"YYYY-MM"``), ``customers`` (distinct purchasing customers),
        ``new_customers`` (first purchase that month), ``orders`` (distinct
        (customer, order) pairs: without order ids a customer's visit at one timestamp
        is an order, so a date-only log counts customer-days) and, with money,
        ``revenue`` (net: returns subtract) and ``purchase_revenue`` (positive lines only).
    """
    if lines.empty:
        return []
    ts = lines["timestamp"]
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC")
    month = (ts.dt.year * 12 + ts.dt.month - 1).to_numpy(np.int64)
    has_money = "amount" in lines
    amount = lines["amount"].to_numpy(np.float64) if has_money else np.ones(len(lines))
    purchase = amount > 0
    frame = pd.DataFrame(
        {
            "month": month,
            "customer": lines["customer_id"].array,  # Arrow text stays Arrow text (no Python objects)
            # Visits without an order id carry their timestamp as the id: shared by customers.
            "order": _order_keys(lines),
            "amount": amount,
            "purchase": purchase,
        }
    )
    bought = frame[frame["purchase"]]
    first_month = bought.groupby("customer")["month"].min()
    per_month = bought.groupby("month")
    months = np.arange(month.min(), month.max() + 1)
    customers = per_month["customer"].nunique().reindex(months, fill_value=0)
    orders = bought.drop_duplicates(["month", "order"])["month"].value_counts().reindex(months, fill_value=0)
    new = first_month.value_counts().reindex(months, fill_value=0)
    net = frame.groupby("month")["amount"].sum().reindex(months, fill_value=0.0)
    gross = per_month["amount"].sum().reindex(months, fill_value=0.0)
    out = []
    for m in months:
        entry: dict[str, Any] = {
            "month": f"{m // 12:04d}-{m % 12 + 1:02d}",
            "customers": int(customers[m]),
            "new_customers": int(new[m]),
            "orders": int(orders[m]),
        }
        if has_money:
            entry["revenue"] = round(float(net[m]), 2)
            entry["purchase_revenue"] = round(float(gross[m]), 2)
        out.append(entry)
    return out


def _order_keys(lines: pd.DataFrame) -> np.ndarray:
    """One integer per distinct (customer, order id) pair."""
    return np.asarray(lines.groupby(["customer_id", "order_id"], sort=False, observed=True).ngroup())
