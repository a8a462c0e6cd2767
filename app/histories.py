"""Turn validated request customers into canonical lines, checking the serving rules."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from app.errors import field_error
from app.schemas import Customer
from training.features import FeatureSpec

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are UTC (the same rule as training files)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def history_lines(
    customers: list[tuple[int, Customer]],
    spec: FeatureSpec,
    as_of: dt.datetime,
    latest_allowed: dt.datetime,
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Canonical lines of customers given by history, and every rule they break.

    Parameters
    ----------
    customers : list of (index in the request, Customer)
    spec : FeatureSpec
        The model's features; decides whether money and categories are needed.
    as_of : datetime
        No line may be later than this.
    latest_allowed : datetime
        Timestamps past this (now plus a tolerance) are refused as in the future.
    """
    errors: list[dict[str, str]] = []
    rows: dict[str, list[object]] = {
        c: [] for c in ("customer_id", "order_id", "timestamp", "amount", "category", "product_id")
    }
    for i, cust in customers:
        assert cust.transactions is not None
        has_purchase = False
        for j, t in enumerate(cust.transactions):
            where = f"customers[{i}].transactions[{j}]"
            ts = as_utc(t.timestamp)
            if ts < EPOCH:
                errors.append(field_error(f"{where}.timestamp", "is before 1970-01-01"))
            elif ts > latest_allowed:
                errors.append(field_error(f"{where}.timestamp", "is in the future"))
            elif ts > as_of:
                errors.append(field_error(f"{where}.timestamp", f"is after as_of {as_of.isoformat()}"))
            amount = _amount(t.amount, t.quantity, t.unit_price, spec.has_money, where, errors)
            has_purchase |= amount is None or amount > 0
            rows["customer_id"].append(cust.customer_id)
            rows["order_id"].append(t.order_id)
            rows["timestamp"].append(ts)
            rows["amount"].append(amount)
            rows["category"].append(t.category)
            rows["product_id"].append(t.product_id)
        if not has_purchase:
            errors.append(
                field_error(
                    f"customers[{i}].transactions",
                    "has no purchase line (only returns): features are undefined",
                )
            )
    frame = pd.DataFrame(rows)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).astype("datetime64[ns, UTC]")
    frame["order_id"] = frame["order_id"].astype("string")
    frame["customer_id"] = frame["customer_id"].astype("string")
    if spec.has_money:
        frame["amount"] = frame["amount"].astype("float64")
    else:
        frame = frame.drop(columns="amount")
    frame["category"] = frame["category"].astype("string")
    frame["product_id"] = frame["product_id"].astype("string")
    return frame, errors


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
