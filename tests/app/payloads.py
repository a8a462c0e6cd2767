"""Build /v1/assign payloads from raw Online Retail rows, as a client would send them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from training.io import normalize_ids


def read_online_retail(path: Path) -> pd.DataFrame:
    """Raw rows a client would post: with a customer id, non-zero quantity, positive price."""
    raw = pd.read_csv(path, dtype={"CustomerID": str, "InvoiceNo": str, "StockCode": str})
    raw["CustomerID"] = normalize_ids(raw["CustomerID"])
    raw = raw.dropna(subset=["CustomerID"])
    return raw[(raw["Quantity"] != 0) & (raw["UnitPrice"] > 0)]


def customers(raw: pd.DataFrame, ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for cid, rows in raw.groupby("CustomerID", sort=True):
        if ids is not None and cid not in ids:
            continue
        out[str(cid)] = {
            "customer_id": str(cid),
            "transactions": [
                {
                    "order_id": o,
                    "timestamp": t.replace(" ", "T"),
                    "quantity": float(q),
                    "unit_price": float(p),
                    "product_id": s,
                }
                for o, t, q, p, s in zip(
                    rows["InvoiceNo"],
                    rows["InvoiceDate"],
                    rows["Quantity"],
                    rows["UnitPrice"],
                    rows["StockCode"],
                    strict=True,
                )
            ],
        }
    return out


def batches(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
