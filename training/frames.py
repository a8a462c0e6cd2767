"""The pandas/Arrow edge of the one feature definition.

Training's cleaning rules and the conversion of canonical lines (a DataFrame or an
Arrow table) into :class:`~segments_core.features.LineArrays` integer codes; the features
themselves are computed by :func:`segments_core.features.feature_matrix`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from shopper_segments.core.features import OTHER_CATEGORY, FeatureSpec, LineArrays, feature_matrix
from shopper_segments.core.rules import DROP_CODES, DUPLICATE_KEY, KEPT, MONEY_OUTCOMES, ZERO_AMOUNT
from shopper_segments.training.coding import column_numpy, dictionary_codes, nanoseconds, order_codes
from shopper_segments.training.io import parquet_columns


def top_categories(lines: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` categories with the most purchase spend (line count without money)."""
    if "category" not in lines or n <= 0:
        return []
    cats = lines["category"].astype("string")
    weight = _purchase_weight(lines)
    totals = weight.groupby(cats.array, sort=False).sum()  # grouped in Arrow, not as Python objects
    totals = totals[(totals > 0) & (totals.index != OTHER_CATEGORY)]
    order = sorted(totals.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [str(c) for c, _ in order[:n]]


def _purchase_weight(lines: pd.DataFrame) -> pd.Series:
    if "amount" in lines:
        return lines["amount"].clip(lower=0.0)
    return pd.Series(1.0, index=lines.index)


class Cleaned(NamedTuple):
    """Lines after the rulebook's cleaning, and what it dropped."""

    lines: pd.DataFrame
    dropped: dict[str, int]
    #: customers that had a line with an id (before any drop): for the ``no_purchases`` count
    customer_ids: pd.Index
    #: lines dropped per customer and rule (index customer_id, one column per rule code)
    by_customer: pd.DataFrame


def clean_lines(lines: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """:func:`clean` returning the kept lines and the drop counts only."""
    cleaned = clean(lines)
    return cleaned.lines, cleaned.dropped


def clean(lines: pd.DataFrame) -> Cleaned:
    """Apply the rulebook's line drops (:mod:`segments_core.rules`), in its order.

    A line without an order id belongs to the visit at its timestamp. Rows without a
    customer id are dropped, then exact duplicate lines, then lines whose money outcome
    (the ``drop`` column set by loading, or a zero ``amount``) is a drop: zero quantity,
    zero unit price, zero amount. Returns (negative amounts) are kept.
    """
    dropped: dict[str, int] = {}
    if "order_id" not in lines or lines["order_id"].isna().any():
        # Without an order id, each distinct timestamp of a customer is one visit.
        visit = lines["timestamp"].astype("string")
        order = lines["order_id"].astype("string") if "order_id" in lines else visit
        lines = lines.assign(order_id=order.fillna(visit))
    has_id = lines["customer_id"].notna() & (lines["customer_id"].astype("string").str.len() > 0)
    keep = has_id.to_numpy(dtype=bool, copy=True)  # not a view: keep changes below, has_id must not
    dropped["missing_customer_id"] = int((~keep).sum())
    reason = np.zeros(len(lines), dtype=np.int8)  # 0: kept; else 1 + index in DROP_CODES
    dup = _duplicated(lines, [c for c in DUPLICATE_KEY if c in lines.columns], keep)
    reason[dup] = 1 + DROP_CODES.index("duplicate_lines")
    keep &= ~dup
    if "amount" in lines:
        outcome = (
            lines["drop"].to_numpy(np.int8)
            if "drop" in lines
            else np.where(lines["amount"].to_numpy(np.float64) == 0, ZERO_AMOUNT, KEPT)
        )
        for code, (rule, *_) in MONEY_OUTCOMES.items():
            if code < 10:
                hit = keep & (outcome == code)
                reason[hit] = 1 + DROP_CODES.index(rule)
                keep &= ~hit
    for i, rule in enumerate(DROP_CODES):
        if rule != "missing_customer_id":
            dropped[rule] = int((reason == i + 1).sum())
    customer_ids = pd.Index(lines["customer_id"][has_id].unique())
    gone = reason > 0
    by_customer = pd.crosstab(
        lines["customer_id"][gone].to_numpy(), np.asarray(DROP_CODES, dtype=object)[reason[gone] - 1]
    )
    kept = lines if keep.all() else lines[keep]  # one copy of the kept lines (none when all are kept)
    if "drop" in kept:
        kept = kept.drop(columns="drop")
    return Cleaned(kept, dropped, customer_ids, by_customer)


def _duplicated(lines: pd.DataFrame, key: list[str], rows: np.ndarray) -> np.ndarray:
    """``lines[rows].duplicated(subset=key, keep="first")`` (False off ``rows``), in full only on candidates.

    Equal lines have equal timestamps and amounts: one integer mixing the two picks the
    candidates (a line whose mix occurs more than once), a small share of the lines.
    """
    dup = np.zeros(len(lines), dtype=bool)
    if not pd.api.types.is_datetime64_any_dtype(lines["timestamp"]):
        candidate = rows
    else:
        mix = lines["timestamp"].to_numpy("datetime64[ns]").view(np.int64)
        if "amount" in key:  # as pandas compares them: -0.0 equals 0.0, NaN equals NaN
            amount = lines["amount"].to_numpy(np.float64) + 0.0
            amount[np.isnan(amount)] = np.nan
            mix = mix ^ (amount.view(np.int64) * np.int64(0x9E3779B97F4A7C15 - 2**64))
        candidate = rows & _maybe_repeated(mix, rows)
    if candidate.any():
        dup[candidate] = lines[candidate].duplicated(subset=key, keep="first").to_numpy()
    return dup


def _maybe_repeated(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """True for every value occurring more than once among ``values[rows]`` (and a few others).

    A sort finds the repeated values (a hash table over millions of distinct integers is
    slower); a 16 MB bitmap of their hashes marks the lines, a superset of the repeats.
    """
    ranked = np.sort(values[rows])
    again = ranked[1:][ranked[1:] == ranked[:-1]]
    if not len(again):
        return np.zeros(len(values), dtype=bool)
    marked = np.zeros(1 << 24, dtype=bool)
    marked[_bucket(again)] = True
    return marked[_bucket(values)]


def _bucket(values: np.ndarray) -> np.ndarray:
    """A 24-bit multiplicative hash of int64 values."""
    return ((values.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)).astype(np.intp)


def compute_features(lines: pd.DataFrame, spec: FeatureSpec, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per-customer features of cleaned canonical lines (a DataFrame), as of ``as_of``.

    The columns :func:`features_from_table` needs go to Arrow (zero-copy for Arrow-backed
    text and numbers) and take the same path as a table read from Parquet.

    Returns
    -------
    DataFrame
        Index ``customer_id`` (sorted), columns ``spec.names`` in original units.
    """
    wanted = [c for c in line_columns(spec) if c in lines.columns]
    table = pa.table({c: pa.array(lines[c]) for c in wanted})
    return features_from_table(table, spec, as_of)


def line_columns(spec: FeatureSpec) -> list[str]:
    """The canonical columns the features of ``spec`` read."""
    money = ["amount"] if spec.has_money else []
    return ["customer_id", "order_id", "timestamp", *money, *(["category"] if spec.categories else [])]


def features_from_table(table: pa.Table, spec: FeatureSpec, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per-customer features of cleaned canonical lines in an Arrow table, as of ``as_of``.

    The Arrow edge of :func:`~segments_core.features.feature_matrix`: id columns become integer
    codes (kept when already dictionary-encoded, hashed here otherwise), timestamps int64
    nanoseconds, amounts float64. Customers without any purchase line are left out;
    callers report them.

    Raises
    ------
    ValueError
        When a needed column is missing, has nulls (clean the lines first) or a wrong type.

    Returns
    -------
    DataFrame
        Index ``customer_id`` (sorted), columns ``spec.names`` in original units.
    """
    return _features({c: partial(table.column, c) for c in table.column_names}, spec, as_of)


def features_from_parquet(path: Path, spec: FeatureSpec, as_of: pd.Timestamp) -> pd.DataFrame:
    """:func:`features_from_table` of a Parquet file of clean canonical lines, faster and leaner.

    Each column is read when it is needed (see :func:`training.io.parquet_columns`) and
    released once converted; no DataFrame or table of the lines is built.
    """
    return _features(parquet_columns(path, line_columns(spec)), spec, as_of)


Loaders = dict[str, Callable[[], pa.ChunkedArray]]


def _features(columns: Loaders, spec: FeatureSpec, as_of: pd.Timestamp) -> pd.DataFrame:
    """The one conversion to :class:`LineArrays`; ``columns`` maps names to column loaders."""
    needed = ["customer_id", "order_id", "timestamp", *(["amount"] if spec.has_money else [])]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ValueError(f"canonical lines lack the column(s) {missing}")
    # Arrow reads and hashes without the GIL: the two id columns in two threads, the rest here.
    with ThreadPoolExecutor(2) as pool:
        orders = pool.submit(lambda: order_codes(_load(columns, "order_id"), np.int32))
        # customer codes in sorted order of the ids: the output comes out sorted without
        # sorting any lines
        customers = pool.submit(lambda: dictionary_codes(_load(columns, "customer_id"), np.int32, sort=True))
        timestamp = nanoseconds(_load(columns, "timestamp"))
        amount = column_numpy(_load(columns, "amount"), np.float64) if spec.has_money else None
        category = None
        if spec.categories and "category" in columns:
            codes, values = dictionary_codes(columns.pop("category")(), np.int32)
            lookup = {c: i for i, c in enumerate(spec.categories)}
            other = len(spec.categories)  # also for null (code -1): the appended entry
            to_spec = [lookup.get(str(c), other) for c in values.to_pylist()]
            category = np.array([*to_spec, other], dtype=np.int32)[codes]
            del codes
        elif spec.categories:
            category = np.full(len(timestamp), len(spec.categories), dtype=np.int32)
        customer, ids = customers.result()
        order = orders.result()
    arrays = LineArrays(customer, order, timestamp, amount, category, n_customers=len(ids))
    del customer, order, timestamp, amount, category
    pa.default_memory_pool().release_unused()  # the freed text and chunks, before the core allocates
    X, has_purchase = feature_matrix(arrays, spec, pd.Timestamp(as_of).value)
    del arrays
    # Keep the customers with a purchase by moving each feature's values to the front of
    # its own row (X is a view of one (features, customers) array): no second matrix.
    kept = int(has_purchase.sum())
    if kept < len(has_purchase):
        for values in X.T:
            values[:kept] = values[has_purchase]
    frame = pd.DataFrame(X[:kept], columns=list(spec.names), copy=False)
    frame.index = pd.Index(ids.filter(pa.array(has_purchase)).to_pandas(), name="customer_id")
    return frame


def _load(columns: Loaders, name: str) -> pa.ChunkedArray:
    """Load (and forget the loader of) a column that must not have nulls."""
    column = columns.pop(name)()
    if column.null_count:
        raise ValueError(f"{column.null_count} lines have no {name}: clean the lines first")
    return column


def default_as_of(lines: pd.DataFrame) -> pd.Timestamp:
    """Training's as_of: midnight UTC after the last transaction."""
    last = pd.Timestamp(lines["timestamp"].max())
    return last.floor("D") + pd.Timedelta(days=1)
