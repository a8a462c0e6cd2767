"""The pandas/Arrow edge of the one feature definition.

Training's cleaning rules and the conversion of canonical lines (a DataFrame or an
Arrow table) into :class:`~training.features.LineArrays` integer codes; the features
themselves are computed by :func:`training.features.feature_matrix`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from training.features import CANONICAL_COLUMNS, OTHER_CATEGORY, FeatureSpec, LineArrays, feature_matrix

PARALLEL_LINES = 1_000_000


def top_categories(lines: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` categories with the most purchase spend (line count without money)."""
    if "category" not in lines or n <= 0:
        return []
    cats = lines["category"].astype("string")
    weight = _purchase_weight(lines)
    totals = weight.groupby(cats.to_numpy(), sort=False).sum()
    totals = totals[(totals > 0) & (totals.index != OTHER_CATEGORY)]
    order = sorted(totals.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [str(c) for c, _ in order[:n]]


def _purchase_weight(lines: pd.DataFrame) -> pd.Series:
    if "amount" in lines:
        return lines["amount"].clip(lower=0.0)
    return pd.Series(1.0, index=lines.index)


def clean_lines(lines: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply the cleaning rules shared by training and serving.

    A line without an order id belongs to the visit at its timestamp. Rows without
    a customer id are dropped, exact duplicate lines are removed, and
    zero-amount lines (which are neither a purchase nor a return) are dropped.
    Returns (negative amounts) are kept: they reduce net spend.

    Returns
    -------
    lines : DataFrame
        The kept lines.
    dropped : dict
        Rows dropped per reason.
    """
    dropped: dict[str, int] = {}
    if "order_id" not in lines or lines["order_id"].isna().any():
        # Without an order id, each distinct timestamp of a customer is one visit.
        visit = lines["timestamp"].astype("string")
        order = lines["order_id"].astype("string") if "order_id" in lines else visit
        lines = lines.assign(order_id=order.fillna(visit))
    has_id = lines["customer_id"].notna() & (lines["customer_id"].astype("string").str.len() > 0)
    dropped["missing_customer_id"] = int((~has_id).sum())
    lines = lines[has_id]
    key = [c for c in CANONICAL_COLUMNS if c in lines.columns]
    dup = lines.duplicated(subset=key, keep="first")
    dropped["duplicate_lines"] = int(dup.sum())
    lines = lines[~dup]
    if "amount" in lines:
        zero = lines["amount"] == 0
        dropped["zero_amount"] = int(zero.sum())
        lines = lines[~zero]
    return lines, dropped


def compute_features(lines: pd.DataFrame, spec: FeatureSpec, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per-customer features of cleaned canonical lines (a DataFrame), as of ``as_of``.

    The pandas edge of :func:`feature_matrix`: columns become codes, the core computes.
    Customers without any purchase line are left out; callers report them.

    Returns
    -------
    DataFrame
        Index ``customer_id`` (sorted), columns ``spec.names`` in original units.
    """
    if len(lines) >= PARALLEL_LINES:  # Arrow hashes without the GIL: both columns at once
        with ThreadPoolExecutor(2) as pool:
            orders = pool.submit(codes_of, lines["order_id"], False)
            cust_codes, customers = codes_of(lines["customer_id"], sort=True)
            order_codes, _ = orders.result()
    else:
        cust_codes, customers = codes_of(lines["customer_id"], sort=True)
        order_codes, _ = codes_of(lines["order_id"], sort=False)
    category = None
    if spec.categories and "category" in lines:
        cat_codes, cat_values = codes_of(lines["category"], sort=False)
        lookup = {c: i for i, c in enumerate(spec.categories)}
        other = len(spec.categories)
        # NA (code -1) lands on the appended "other" entry
        table = np.array([lookup.get(str(c), other) for c in cat_values] + [other], dtype=np.int64)
        category = table[cat_codes]
    arrays = LineArrays(
        customer=cust_codes,
        order=order_codes,
        timestamp=lines["timestamp"].to_numpy("datetime64[ns]").view(np.int64),
        amount=lines["amount"].to_numpy(np.float64) if spec.has_money else None,
        category=category,
        n_customers=len(customers),
    )
    X, has_purchase = feature_matrix(arrays, spec, pd.Timestamp(as_of).value)
    frame = pd.DataFrame(X[has_purchase], columns=list(spec.names))
    frame.index = pd.Index(customers[has_purchase], name="customer_id")
    return frame


def codes_of(values: pd.Series, sort: bool) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (NA: -1) and the distinct values, hashed in Arrow when the column is Arrow text."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        encoded = pc.dictionary_encode(pa.chunked_array(pa.array(values))).combine_chunks()
        codes = pc.fill_null(encoded.indices, -1).to_numpy().astype(np.intp, copy=False)
        uniques = encoded.dictionary
        if sort and len(uniques) > 1:
            order = pc.sort_indices(uniques).to_numpy()
            rank = np.empty(len(order) + 1, dtype=np.intp)
            rank[order] = np.arange(len(order))
            rank[-1] = -1  # NA stays NA
            codes, uniques = rank[codes], uniques.take(pa.array(order))
        return codes, uniques.to_numpy(zero_copy_only=False)
    codes, found = pd.factorize(values, sort=sort)
    return codes.astype(np.intp, copy=False), np.asarray(found, dtype=object)


def default_as_of(lines: pd.DataFrame) -> pd.Timestamp:
    """Training's as_of: midnight UTC after the last transaction."""
    last = pd.Timestamp(lines["timestamp"].max())
    return last.floor("D") + pd.Timedelta(days=1)
