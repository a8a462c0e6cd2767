"""Build /v1/assign payloads from raw rows of a real file, exactly as they stand in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from shopper_segments.core.rules import normalize_id

#: Online Retail's columns -> the request's fields
ONLINE_RETAIL = {
    "CustomerID": "customer_id",
    "InvoiceNo": "order_id",
    "InvoiceDate": "timestamp",
    "Quantity": "quantity",
    "UnitPrice": "unit_price",
    "StockCode": "product_id",
}


def read_rows(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    """The file's rows as text cells, renamed to request fields; only rows without a customer id go.

    Nothing else is filtered or rewritten: zero prices, zero quantities, returns,
    duplicates, ids written as floats and the file's own timestamp text are posted as
    they stand, and the service's rulebook decides.
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], usecols=list(columns))
    raw = raw.rename(columns=columns)
    return raw[raw["customer_id"].notna()].reset_index(drop=True)


def read_online_retail(path: Path) -> pd.DataFrame:
    """:func:`read_rows` of an Online Retail file (the full file or the bundled sample)."""
    return read_rows(path, ONLINE_RETAIL)


def customers(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """One JSON customer per id, lines in file order; keyed by the id as the rulebook reads it.

    Numbers go as JSON numbers (the cell's text read as a float), the rest as text.
    """
    fields = [c for c in rows.columns if c != "customer_id"]
    numbers = {"amount", "quantity", "unit_price"}
    out = {}
    for cid, part in rows.groupby("customer_id", sort=True):
        values = {f: part[f].tolist() for f in fields}
        lines = [
            {
                f: float(values[f][k]) if f in numbers else values[f][k]
                for f in fields
                if not pd.isna(values[f][k])
            }
            for k in range(len(part))
        ]
        out[normalize_id(str(cid)) or ""] = {"customer_id": str(cid), "transactions": lines}
    return out


def batches(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
