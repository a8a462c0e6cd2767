"""The customer side of segment identity: where the customers in both trainings went.

The overlap table counts, per previous segment and new label, the customers in both
trainings; Hungarian matching (:func:`scipy.optimize.linear_sum_assignment`) pairs
segments on maximal Jaccard overlap and :func:`decide` keeps a pair when the overlap is
convincing (see :mod:`training.identity` for the rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from shopper_segments.training.centroid_check import nearest_pairs

if TYPE_CHECKING:
    from shopper_segments.core.model import SegmentModel
    from shopper_segments.training.identity import Previous

#: A pair is kept when more than this share of a segment's shared customers moved together.
KEEP_SHARE = 0.5
#: Per previous row: the paired new label (None: none left), kept, and why.
Decided = dict[int, tuple[int | None, bool, str]]


def overlap(
    previous: Previous, model: SegmentModel, customers: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray]:
    """Customers in both trainings (previous segment x new label counts) and each label's size.

    ``customers`` are the new training's features indexed by customer id (original units);
    their new labels come from the model, their previous segment from its assignments.
    """
    k = model.n_segments
    if customers is None or customers.empty:
        return np.zeros((len(previous.meta.segments), k), dtype=np.int64), np.zeros(k, dtype=np.int64)
    labels = model.assign(customers.to_numpy(np.float64)).segment_index
    new = pd.DataFrame({"customer_id": customers.index.astype(str), "label": labels})
    old = previous.assignments.assign(customer_id=previous.assignments["customer_id"].astype(str))
    both = old.merge(new, on="customer_id")
    table = pd.crosstab(both["segment_id"], both["label"]).reindex(
        index=[s.id for s in previous.meta.segments], columns=range(k), fill_value=0
    )
    return table.to_numpy(np.int64), np.bincount(labels, minlength=k)


def shares(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row share (of the previous segment's shared customers), column share, Jaccard."""
    row, col = counts.sum(axis=1, keepdims=True), counts.sum(axis=0, keepdims=True)
    return (
        counts / np.maximum(row, 1),
        counts / np.maximum(col, 1),
        counts / np.maximum(row + col - counts, 1),
    )


def evidence(counts: np.ndarray, p: int, n: int | None) -> dict[str, Any]:
    """Shared customers, overlap share, source share, Jaccard and mutual best of one pair."""
    if n is None:
        return dict.fromkeys(("shared_customers", "overlap_share", "source_share", "jaccard"), 0) | {
            "mutual_best": False
        }
    rs, cs, jac = shares(counts)
    return {
        "shared_customers": int(counts[p, n]),
        "overlap_share": float(rs[p, n]),
        "source_share": float(cs[p, n]),
        "jaccard": float(jac[p, n]),
        "mutual_best": bool(counts[p, n] > 0 and rs[p].argmax() == n and cs[:, n].argmax() == p),
    }


def decide(counts: np.ndarray, p: int, n: int) -> tuple[bool, str]:
    """Whether the pair is kept, and why."""
    ev = evidence(counts, p, n)
    rs, cs = ev["overlap_share"], ev["source_share"]
    if rs > KEEP_SHARE:
        return True, f"{rs:.0%} of its {int(counts[p].sum()):,} shared customers went there"
    if ev["mutual_best"] and cs > KEEP_SHARE:
        return True, f"mutual best: {cs:.0%} of the new segment's shared customers came from it"
    if counts[p].sum() == 0:
        return False, "none of its customers is in the new training"
    return False, f"only {rs:.0%} of its shared customers went there, {cs:.0%} came from it"


def pairs_by_overlap(counts: np.ndarray) -> Decided:
    """Per previous row: Hungarian partner on Jaccard overlap, kept or not, and why."""
    assigned = dict(zip(*linear_sum_assignment(-shares(counts)[2]), strict=True))
    out: Decided = {}
    for p in range(counts.shape[0]):
        n = assigned.get(p)
        out[p] = (
            (None, False, "no new segment left to pair with")
            if n is None
            else (int(n), *decide(counts, p, int(n)))
        )
    return out


def newcomers(
    decided: Decided,
    counts: np.ndarray,
    sizes: np.ndarray,
    distance: np.ndarray,
    max_distance: float,
) -> None:
    """Unkept previous segments matched by centroid to new segments made mostly of newcomers."""
    taken = {label for label, keep, _ in decided.values() if keep}
    left = [p for p, (_, keep, _) in decided.items() if not keep]
    fresh = [n for n in range(len(sizes)) if n not in taken and counts[:, n].sum() <= KEEP_SHARE * sizes[n]]
    for i, j, _ in nearest_pairs(distance[np.ix_(fresh, left)], max_distance):
        n, p = fresh[i], left[j]
        returning = counts[:, n].sum() / max(int(sizes[n]), 1)
        decided[p] = (
            n,
            True,
            f"newcomers' segment ({returning:.0%} of its customers were in the previous "
            f"training): centroid distance within {max_distance}",
        )
