"""The one feature definition shared by training and serving.

Both ``training`` and ``app`` call :func:`clean_lines` and :func:`compute_features`
on canonical transaction lines, so a customer's raw history gives the same features
online as offline. A :class:`FeatureSpec` records every parameter (feature names,
categories, transforms, the as_of rule) and is saved with the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: Version of the transaction feature definition; the service refuses any other.
FEATURE_DEFINITION = "rfm-v1"
#: Version for models trained on customer-level tables (features given as columns).
TABLE_DEFINITION = "table-v1"
KNOWN_DEFINITIONS = (FEATURE_DEFINITION, TABLE_DEFINITION)

CANONICAL_COLUMNS = ("customer_id", "order_id", "timestamp", "amount", "category", "product_id")
OTHER_CATEGORY = "other"
SECONDS_PER_DAY = 86_400.0

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


def compute_features(lines: pd.DataFrame, spec: FeatureSpec, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per-customer features of cleaned canonical lines, as of ``as_of``.

    Purchase lines are lines with a positive amount (every line without money).
    ``frequency`` counts distinct purchase orders, ``monetary`` is net spend
    (returns subtract), ``recency_days`` and ``tenure_days`` run from the last and
    first purchase to ``as_of``, and ``share_<category>`` is the category's share of
    purchase spend. Customers without any purchase line have no features and are
    left out; callers report them.

    Returns
    -------
    DataFrame
        Index ``customer_id`` (sorted), columns ``spec.names`` in original units.
    """
    cust_codes, customers = pd.factorize(lines["customer_id"], sort=True)
    n_cust = len(customers)
    amount = lines["amount"].to_numpy(np.float64) if spec.has_money else None
    purchase = amount > 0 if amount is not None else np.ones(len(lines), dtype=bool)
    ts = lines["timestamp"].to_numpy("datetime64[ns]").view(np.int64)

    pc = cust_codes[purchase]
    p_ts = ts[purchase]
    n_purchase = np.bincount(pc, minlength=n_cust)
    last = np.full(n_cust, np.iinfo(np.int64).min)
    np.maximum.at(last, pc, p_ts)
    first = np.full(n_cust, np.iinfo(np.int64).max)
    np.minimum.at(first, pc, p_ts)

    order_codes, _ = pd.factorize(lines["order_id"].to_numpy()[purchase])
    pairs = np.unique(pc.astype(np.int64) * (int(order_codes.max(initial=0)) + 1) + order_codes)
    frequency = np.bincount(pairs // (int(order_codes.max(initial=0)) + 1), minlength=n_cust)

    as_of_ns = pd.Timestamp(as_of).value
    out: dict[str, np.ndarray] = {
        "recency_days": (as_of_ns - last) / 1e9 / SECONDS_PER_DAY,
        "frequency": frequency.astype(np.float64),
        "tenure_days": (as_of_ns - first) / 1e9 / SECONDS_PER_DAY,
    }
    if amount is not None:
        monetary = np.bincount(cust_codes, weights=amount, minlength=n_cust)
        out["monetary"] = monetary
        out["avg_order_value"] = monetary / np.maximum(frequency, 1)
    if spec.categories:
        out |= _category_shares(lines, cust_codes, n_cust, purchase, amount, spec.categories)

    has_purchase = n_purchase > 0
    frame = pd.DataFrame({n: out[n][has_purchase] for n in spec.names})
    frame.index = pd.Index(np.asarray(customers)[has_purchase], name="customer_id")
    return frame


def _category_shares(
    lines: pd.DataFrame,
    cust_codes: np.ndarray,
    n_cust: int,
    purchase: np.ndarray,
    amount: np.ndarray | None,
    categories: list[str],
) -> dict[str, np.ndarray]:
    cats = lines["category"].astype("string").fillna(OTHER_CATEGORY).to_numpy(object)
    lookup = {c: i for i, c in enumerate(categories)}
    other = len(categories)
    cat_codes = np.fromiter((lookup.get(c, other) for c in cats), np.int64, len(cats))
    weight = amount if amount is not None else np.ones(len(lines))
    pc, pcat, pw = cust_codes[purchase], cat_codes[purchase], weight[purchase]
    width = other + 1
    spend = np.bincount(pc * width + pcat, weights=pw, minlength=n_cust * width)
    spend = spend.reshape(n_cust, width)
    total = spend.sum(axis=1, keepdims=True)
    shares = np.divide(spend, total, out=np.zeros_like(spend), where=total > 0)
    names = [share_name(c) for c in [*categories, OTHER_CATEGORY]]
    return {name: shares[:, j] for j, name in enumerate(names)}


def transform_features(X: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Apply the per-feature transforms (before scaling) to ``X`` in spec order."""
    Xt = np.array(X, dtype=np.float64, copy=True)
    for j, name in enumerate(spec.names):
        kind = spec.transforms[name]
        if kind == "log1p":
            Xt[:, j] = np.log1p(np.maximum(Xt[:, j], 0.0))
        elif kind == "signed_log1p":
            Xt[:, j] = np.sign(Xt[:, j]) * np.log1p(np.abs(Xt[:, j]))
    return Xt


def default_as_of(lines: pd.DataFrame) -> pd.Timestamp:
    """Training's as_of: midnight UTC after the last transaction."""
    last = pd.Timestamp(lines["timestamp"].max())
    return last.floor("D") + pd.Timedelta(days=1)
