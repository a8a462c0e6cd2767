"""The one feature definition shared by training and serving, on numpy arrays.

:func:`feature_matrix` computes every customer's features from :class:`LineArrays`
(canonical lines as integer codes); training reaches it through the pandas/Arrow edge
in :mod:`training.frames`, the service through :mod:`app.histories`, so a customer's
raw history gives the same features online as offline. A :class:`FeatureSpec` records
every parameter (feature names, categories, transforms, the as_of rule) and is saved
with the model. This module imports neither pandas nor pyarrow.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

#: Version of the transaction feature definition; the service refuses any other.
FEATURE_DEFINITION = "rfm-v1"
#: Version for models trained on customer-level tables (features given as columns).
TABLE_DEFINITION = "table-v1"
KNOWN_DEFINITIONS = (FEATURE_DEFINITION, TABLE_DEFINITION)

CANONICAL_COLUMNS = ("customer_id", "order_id", "timestamp", "amount", "category", "product_id")
OTHER_CATEGORY = "other"
SECONDS_PER_DAY = 86_400.0
NS_PER_DAY = 86_400e9  # exact in a float64
#: From this many purchase lines, category shares are computed in a second thread.
PARALLEL_LINES = 1_000_000
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
INT32_MAX = int(np.iinfo(np.int32).max)

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
    timezone : str
        IANA zone of line timestamps written without an offset (the training dataset's
        ``timezone``); the service reads posted naive times in it too.
    """

    definition: str
    names: list[str]
    transforms: dict[str, str]
    has_money: bool = True
    categories: list[str] = field(default_factory=list)
    as_of_rule: str = AS_OF_RULE
    timezone: str = "UTC"

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


def rfm_spec(has_money: bool, categories: list[str] | None = None, timezone: str = "UTC") -> FeatureSpec:
    """Build the transaction feature spec.

    Parameters
    ----------
    has_money : bool
        False for histories without amounts: monetary features are left out.
    categories : list of str, optional
        Top categories; with any, share features (plus "other") are added.
    timezone : str
        Zone of naive line timestamps (the dataset's).
    """
    base = ["recency_days", "frequency"]
    if has_money:
        base += ["monetary", "avg_order_value"]
    base.append("tenure_days")
    cats = list(categories or [])
    shares = [share_name(c) for c in [*cats, OTHER_CATEGORY]] if cats else []
    transforms = {n: RFM_TRANSFORMS[n] for n in base} | {n: "none" for n in shares}
    return FeatureSpec(FEATURE_DEFINITION, base + shares, transforms, has_money, cats, timezone=timezone)


def table_spec(columns: list[str], log_columns: list[str] | None = None) -> FeatureSpec:
    """Spec for a customer-level table trained directly on ``columns``."""
    logs = set(log_columns or [])
    transforms = {c: ("signed_log1p" if c in logs else "none") for c in columns}
    return FeatureSpec(TABLE_DEFINITION, list(columns), transforms, has_money=False)


class LineArrays(NamedTuple):
    """Canonical lines as numbers: the input of the feature core.

    A named tuple: immutable, and built per request at a fraction of a frozen dataclass's cost.

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
    n_cust, amount, customer = lines.n_customers, lines.amount, lines.customer
    # Each purchase line's customer, other lines in slot n_cust (dropped): the columns are
    # used in place (no copies of the purchase lines' times, amounts or categories).
    purchase = amount > 0.0 if amount is not None else None
    slot = np.where(purchase, customer, n_cust) if purchase is not None else customer
    shares = None
    if spec.categories and len(slot) >= PARALLEL_LINES:  # numpy releases the GIL: use the other core
        pool = ThreadPoolExecutor(1)
        shares = pool.submit(_category_shares, lines, slot, spec.categories)
        pool.shutdown(wait=False)
    # last (row 0) and first (row 1) purchase, in one array so the day arithmetic runs once
    ends = np.empty((2, n_cust + 1), dtype=np.int64)
    ends[0], ends[1] = INT64_MIN, INT64_MAX
    np.maximum.at(ends[0], slot, lines.timestamp)
    np.minimum.at(ends[1], slot, lines.timestamp)
    ends = ends[:, :n_cust]
    has_purchase = ends[0] != INT64_MIN
    if purchase is not None:
        frequency = _distinct_orders(customer[purchase], lines.order[purchase], n_cust)
    else:
        frequency = _distinct_orders(customer, lines.order, n_cust)
    # (as_of - ends) in exact int64 first (no rounding of nanoseconds since 1970), then days
    days = np.subtract(as_of_ns, ends) / NS_PER_DAY

    out: dict[str, np.ndarray] = {"recency_days": days[0], "frequency": frequency, "tenure_days": days[1]}
    if amount is not None:
        monetary = np.bincount(customer, weights=amount, minlength=n_cust)
        out["monetary"] = monetary
        out["avg_order_value"] = monetary / np.maximum(frequency, 1.0)
    if shares is not None:
        out |= shares.result()
    elif spec.categories:
        out |= _category_shares(lines, slot, spec.categories)
    # one copy into (features, customers), viewed as (customers, features)
    return np.array([out[name] for name in spec.names], dtype=np.float64).T, has_purchase


def _distinct_orders(pc: np.ndarray, po: np.ndarray, n_cust: int) -> np.ndarray:
    """Distinct orders per customer (as floats), in linear time: orders of one customer count directly."""
    if n_cust == 1:  # one customer (serving): every purchase order is its own
        return np.array([len(set(po.tolist()))], dtype=np.float64)
    if len(po) <= 64:  # tiny inputs (serving a few customers): a set is cheaper than the arrays
        pairs = set(zip(pc.tolist(), po.tolist(), strict=True))
        return np.bincount(np.array([c for c, _ in pairs], dtype=np.intp), minlength=n_cust).astype(
            np.float64
        )
    n_orders = int(po.max()) + 1
    # in the customer codes' dtype: ufunc.at takes its fast loop when no cast is needed
    low = np.full(n_orders, n_cust, dtype=pc.dtype)
    np.minimum.at(low, po, pc)
    high = np.full(n_orders, -1, dtype=pc.dtype)
    np.maximum.at(high, po, pc)
    single = low == high
    frequency = np.bincount(low[single], minlength=n_cust)
    shared = (high >= 0) & ~single
    if shared.any():  # an order id used by several customers counts once for each of them
        m = shared[po]
        keys = np.unique(pc[m].astype(np.int64) * n_orders + po[m])
        frequency += np.bincount(keys // n_orders, minlength=n_cust)
    return frequency.astype(np.float64)


def _category_shares(lines: LineArrays, slot: np.ndarray, categories: list[str]) -> dict[str, np.ndarray]:
    """Each category's share of purchase spend; ``slot`` is the customer, ``n_customers`` off purchases."""
    width = len(categories) + 1
    n_cust = lines.n_customers
    bins = (n_cust + 1) * width
    index = (slot if bins <= INT32_MAX else slot.astype(np.int64)) * width  # in the codes' dtype
    index += width - 1 if lines.category is None else lines.category
    sums = np.bincount(index, weights=lines.amount, minlength=bins)  # line counts without money
    del index
    spend = sums[: n_cust * width].astype(np.float64, copy=False).reshape(n_cust, width)
    total = spend.sum(axis=1, keepdims=True)
    np.divide(spend, total, out=spend, where=total > 0)  # rows without purchases stay 0
    names = [share_name(c) for c in [*categories, OTHER_CATEGORY]]
    return {name: spend[:, j] for j, name in enumerate(names)}
