"""The one feature definition shared by training and serving.

Both ``training`` and ``app`` call :func:`clean_lines` and :func:`compute_features`
on canonical transaction lines, so a customer's raw history gives the same features
online as offline. A :class:`FeatureSpec` records every parameter (feature names,
categories, transforms, the as_of rule) and is saved with the model.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Version of the transaction feature definition; the service refuses any other.
FEATURE_DEFINITION = "rfm-v1"
#: Version for models trained on customer-level tables (features given as columns).
TABLE_DEFINITION = "table-v1"
KNOWN_DEFINITIONS = (FEATURE_DEFINITION, TABLE_DEFINITION)

CANONICAL_COLUMNS = ("customer_id", "order_id", "timestamp", "amount", "category", "product_id")
OTHER_CATEGORY = "other"
SECONDS_PER_DAY = 86_400.0
NS_PER_DAY = 86_400e9  # exact in a float64
PARALLEL_LINES = 1_000_000
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)

TRANSFORMS = ("none", "log1p", "signed_log1p")

#: Heavy-tailed RFM features are log-transformed before scaling.
RFM_TRANSFORMS = {
    "recency_days": "log1p",
    "frequency": "log1p",
    "monetary": "signed_log1p",
    "avg_order_value": "signed_log1p",
    "tenure_days": "log1p",
}
AS_OF_RULE = (
    "training: midnight UTC after the last transaction in the data; "
    "serving: the request's as_of, default now (UTC)"
)


@dataclass(frozen=True)
class FeatureSpec:
    """Everything needed to recompute a model's features.

    Attributes
    ----------
    definition : str
        ``"rfm-v1"`` for transaction histories, ``"table-v1"`` for customer tables.
    names : list of str
        Feature names in model column order.
    transforms : dict
        Per feature: ``"none"``, ``"log1p"`` or ``"signed_log1p"`` (applied before scaling).
    has_money : bool
        Whether monetary features exist (False for date-only histories).
    categories : list of str
        Top categories learned at training; every other category folds into "other".
    as_of_rule : str
        How the reference time is defined.
    """

    definition: str
    names: list[str]
    transforms: dict[str, str]
    has_money: bool = True
    categories: list[str] = field(default_factory=list)
    as_of_rule: str = AS_OF_RULE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        if data.get("definition") not in KNOWN_DEFINITIONS:
            raise ValueError(
                f"unknown feature definition {data.get('definition')!r}; "
                f"this version knows {', '.join(KNOWN_DEFINITIONS)}"
            )
        unknown = set(data["transforms"].values()) - set(TRANSFORMS)
        if unknown:
            raise ValueError(f"unknown feature transforms {sorted(unknown)}")
        return cls(**data)

    @property
    def is_table(self) -> bool:
        return self.definition == TABLE_DEFINITION


def share_name(category: str) -> str:
    """Feature name of the spend share of ``category``."""
    return f"share_{category}"


def rfm_spec(has_money: bool, categories: list[str] | None = None) -> FeatureSpec:
    """Build the transaction feature spec.

    Parameters
    ----------
    has_money : bool
        False for histories without amounts: monetary features are left out.
    categories : list of str, optional
        Top categories; with any, share features (plus "other") are added.
    """
    base = ["recency_days", "frequency"]
    if has_money:
        base += ["monetary", "avg_order_value"]
    base.append("tenure_days")
    cats = list(categories or [])
    shares = [share_name(c) for c in [*cats, OTHER_CATEGORY]] if cats else []
    transforms = {n: RFM_TRANSFORMS[n] for n in base} | {n: "none" for n in shares}
    return FeatureSpec(FEATURE_DEFINITION, base + shares, transforms, has_money, cats)


def table_spec(columns: list[str], log_columns: list[str] | None = None) -> FeatureSpec:
    """Spec for a customer-level table trained directly on ``columns``."""
    logs = set(log_columns or [])
    transforms = {c: ("signed_log1p" if c in logs else "none") for c in columns}
    return FeatureSpec(TABLE_DEFINITION, list(columns), transforms, has_money=False)


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


@dataclass(frozen=True)
class LineArrays:
    """Canonical lines as numbers: the input of the feature core.

    Attributes
    ----------
    customer : ndarray of int
        Customer code of each line, in ``0 .. n_customers - 1``.
    order : ndarray of int
        Order code of each line (non-negative); lines share a code iff they share an order id.
    timestamp : ndarray of int64
        Nanoseconds since 1970-01-01 UTC.
    amount : ndarray of float64 or None
        Line amount (negative: a return); None for histories without money.
    category : ndarray of int or None
        Index into ``spec.categories``; ``len(spec.categories)`` is "other". None without categories.
    n_customers : int
    """

    customer: np.ndarray
    order: np.ndarray
    timestamp: np.ndarray
    amount: np.ndarray | None
    category: np.ndarray | None
    n_customers: int


def feature_matrix(lines: LineArrays, spec: FeatureSpec, as_of_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer features of cleaned lines: the definition itself, on arrays.

    Purchase lines are lines with a positive amount (every line without money).
    ``frequency`` counts distinct purchase orders, ``monetary`` is net spend
    (returns subtract), ``recency_days`` and ``tenure_days`` run from the last and
    first purchase to ``as_of``, and ``share_<category>`` is the category's share of
    purchase spend. Customers without any purchase line have no features.

    Returns
    -------
    X : ndarray of shape (n_customers, len(spec.names))
        Features in original units, spec order (rows of customers without a purchase are undefined).
    has_purchase : ndarray of bool, shape (n_customers,)
    """
    n_cust, amount = lines.n_customers, lines.amount
    if amount is not None:
        purchase = amount > 0
        pc, p_ts, po = lines.customer[purchase], lines.timestamp[purchase], lines.order[purchase]
    else:
        purchase, pc, p_ts, po = None, lines.customer, lines.timestamp, lines.order
    # last (row 0) and first (row 1) purchase, in one array so the day arithmetic runs once
    ends = np.full((2, n_cust), INT64_MIN, dtype=np.int64)
    ends[1] = INT64_MAX
    np.maximum.at(ends[0], pc, p_ts)
    np.minimum.at(ends[1], pc, p_ts)
    has_purchase = ends[0] != INT64_MIN
    frequency = _distinct_orders(pc, po, n_cust).astype(np.float64)
    days = (np.int64(as_of_ns) - ends) / NS_PER_DAY

    out: dict[str, np.ndarray] = {"recency_days": days[0], "frequency": frequency, "tenure_days": days[1]}
    if amount is not None:
        monetary = np.bincount(lines.customer, weights=amount, minlength=n_cust)
        out["monetary"] = monetary
        out["avg_order_value"] = monetary / np.maximum(frequency, 1.0)
    if spec.categories:
        out |= _category_shares(lines, pc, purchase, spec.categories)
    # one copy into (features, customers), viewed as (customers, features)
    return np.array([out[name] for name in spec.names], dtype=np.float64).T, has_purchase


def _distinct_orders(pc: np.ndarray, po: np.ndarray, n_cust: int) -> np.ndarray:
    """Distinct orders per customer, in linear time: orders of one customer count directly."""
    if n_cust == 1:  # one customer (serving): every purchase order is its own
        return np.array([len(set(po.tolist()))], dtype=np.int64)
    if len(po) <= 64:  # tiny inputs (serving a few customers): a set is cheaper than the arrays
        pairs = set(zip(pc.tolist(), po.tolist(), strict=True))
        return np.bincount(np.array([c for c, _ in pairs], dtype=np.intp), minlength=n_cust)
    n_orders = int(po.max()) + 1
    low = np.full(n_orders, n_cust, dtype=np.int64)
    np.minimum.at(low, po, pc)
    high = np.full(n_orders, -1, dtype=np.int64)
    np.maximum.at(high, po, pc)
    single = low == high
    frequency = np.bincount(low[single], minlength=n_cust)
    shared = (high >= 0) & ~single
    if shared.any():  # an order id used by several customers counts once for each of them
        m = shared[po]
        keys = np.unique(pc[m].astype(np.int64) * n_orders + po[m])
        frequency += np.bincount(keys // n_orders, minlength=n_cust)
    return frequency


def _category_shares(
    lines: LineArrays, pc: np.ndarray, purchase: np.ndarray | None, categories: list[str]
) -> dict[str, np.ndarray]:
    width = len(categories) + 1
    n_cust = lines.n_customers
    if lines.category is None:
        cat = np.full(len(pc), width - 1, dtype=np.int64)
    else:
        cat = lines.category[purchase] if purchase is not None else lines.category
    if lines.amount is None:
        weight = np.ones(len(pc))
    else:
        weight = lines.amount[purchase] if purchase is not None else lines.amount
    spend = np.bincount(pc * width + cat, weights=weight, minlength=n_cust * width).reshape(n_cust, width)
    total = spend.sum(axis=1, keepdims=True)
    shares = np.divide(spend, total, out=np.zeros_like(spend), where=total > 0)
    names = [share_name(c) for c in [*categories, OTHER_CATEGORY]]
    return {name: shares[:, j] for j, name in enumerate(names)}


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


def transform_plan(spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray, bool]:
    """What :func:`transform_features` needs of ``spec``, computed once per model.

    Returns
    -------
    lower : ndarray
        Per feature, the value it is clipped at before the transform: 0 for ``log1p``,
        -inf otherwise.
    transformed : ndarray of bool
        Per feature, whether it is transformed (``log1p`` or ``signed_log1p``).
    all_transformed : bool
    """
    kinds = [spec.transforms[name] for name in spec.names]
    lower = np.array([0.0 if k == "log1p" else -np.inf for k in kinds], dtype=np.float64)
    transformed = np.array([k != "none" for k in kinds], dtype=bool)
    return lower, transformed, bool(transformed.all())


def transform_features(
    X: np.ndarray, spec: FeatureSpec, plan: tuple[np.ndarray, np.ndarray, bool] | None = None
) -> np.ndarray:
    """Apply the per-feature transforms (before scaling) to ``X`` in spec order.

    ``log1p`` is ``log1p(max(x, 0))``; ``signed_log1p`` is ``sign(x) * log1p(|x|)``.
    Both are computed as the one expression ``copysign(log1p(|y|), y)`` with ``y`` the
    clipped value (equal for ``y >= 0``), a handful of array operations whatever the
    features. ``plan`` is :func:`transform_plan` of ``spec``, passed by callers that
    transform often. Returns a new array.
    """
    lower, transformed, all_transformed = plan if plan is not None else transform_plan(spec)
    Y = np.maximum(X, lower, dtype=np.float64)
    T = np.log1p(np.abs(Y))
    np.copysign(T, Y, out=T)
    return T if all_transformed else np.where(transformed, T, np.asarray(X, dtype=np.float64))


def default_as_of(lines: pd.DataFrame) -> pd.Timestamp:
    """Training's as_of: midnight UTC after the last transaction."""
    last = pd.Timestamp(lines["timestamp"].max())
    return last.floor("D") + pd.Timedelta(days=1)
