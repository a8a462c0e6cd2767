"""RFM quintile scores and the named RFM grid, read from the model's own features.

Scores
------
R, F and M are scores 1-5 of ``recency_days`` (lower is better), ``frequency`` and
``monetary`` (higher is better), the features :mod:`segments_core.features` computes;
nothing is computed twice. At training, a customer's score is
``1 + floor(5 * b / n)`` where ``b`` is the number of the ``n`` training customers
strictly worse on that feature (:data:`TIE_RULE`): tied customers share one score, the
lowest of their tie group's ranks (frequency 1 always scores F = 1; a large tie can
leave a score unused). The score boundaries are stored as four **edges** per feature
(``edges[s - 2]`` is where score ``s`` starts) and every path, training included,
scores with :func:`score_matrix` from the edges, so one customer gets the same score
online as offline.

Grid
----
:data:`GRID` names each (R, F) cell (FM is the F score); :data:`LOST` is carved out of
*Hibernating* by M. :func:`grid_table` checks the 25 cells are covered exactly once.
:class:`RFMGrid` is the grid as a model's segment step (``--algorithm rfm``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

#: The features scored, in R, F, M order.
RFM_FEATURES = ("recency_days", "frequency", "monetary")
#: Per feature of :data:`RFM_FEATURES`: is a higher value better?
HIGHER_IS_BETTER = (False, True, True)
#: The result columns holding the scores and the grid name.
RFM_COLUMNS = ("rfm_r", "rfm_f", "rfm_m", "rfm_segment")
TIE_RULE = (
    "score = 1 + floor(5 * b / n), b = training customers strictly worse on the feature "
    "(ties share the lowest rank of their group); edges[s-2] = where score s starts: the "
    "midpoint between the last training value below s and the first at s (null when no "
    "training customer scores s)"
)
GRID_RULE = "named grid on (R, F): FM is the F score; Lost is R = F = M = 1 (carved out of Hibernating)"

#: The named grid: (R scores, F scores, name); each of the 25 (R, F) cells in one row.
GRID: tuple[tuple[tuple[int, ...], tuple[int, ...], str], ...] = (
    ((5,), (4, 5), "Champions"),
    ((3, 4), (4, 5), "Loyal"),
    ((4, 5), (2, 3), "Potential loyalist"),
    ((5,), (1,), "New"),
    ((4,), (1,), "Promising"),
    ((3,), (3,), "Need attention"),
    ((3,), (1, 2), "About to sleep"),
    ((1, 2), (3, 4), "At risk"),
    ((1, 2), (5,), "Can't lose"),
    ((1, 2), (1, 2), "Hibernating"),
)
#: R = F = M = 1: the lowest corner of Hibernating.
LOST = "Lost"
#: Every grid name; a name's index is its segment id in an ``rfm`` model.
GRID_NAMES: tuple[str, ...] = (*(name for _, _, name in GRID), LOST)


def grid_table() -> np.ndarray:
    """The grid as a 5 x 5 array of name indices, ``[r - 1, f - 1]``.

    Raises
    ------
    ValueError
        A cell of :data:`GRID` is covered twice or not at all.
    """
    table = np.full((5, 5), -1, dtype=np.intp)
    for r_scores, f_scores, name in GRID:
        for r in r_scores:
            for f in f_scores:
                if table[r - 1, f - 1] >= 0:
                    raise ValueError(f"RFM grid cell R={r} F={f} is named twice")
                table[r - 1, f - 1] = GRID_NAMES.index(name)
    if (table < 0).any():
        r, f = np.argwhere(table < 0)[0] + 1
        raise ValueError(f"RFM grid cell R={r} F={f} has no name")
    return table


_TABLE = grid_table()


def describe(index: int) -> str:
    """The cells of grid name ``GRID_NAMES[index]``, e.g. ``Champions: R 5, F 4-5``."""
    name = GRID_NAMES[index]
    if name == LOST:
        return f"{LOST}: R 1, F 1, M 1"
    r_scores, f_scores = next((r, f) for r, f, n in GRID if n == name)

    def span(values: tuple[int, ...]) -> str:
        return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"

    carved = " (not M 1 at R 1, F 1)" if name == "Hibernating" else ""
    return f"{name}: R {span(r_scores)}, F {span(f_scores)}{carved}"


def fit_edges(values: np.ndarray, higher_is_better: bool = True) -> list[float | None]:
    """The four edges of one feature's scores on the training customers (:data:`TIE_RULE`).

    Parameters
    ----------
    values : array of shape (n,)
        The training customers' feature, finite.
    higher_is_better : bool
        False for recency: then edges decrease and a value at or below an edge passes it.

    Returns
    -------
    list of float or None
        ``edges[s - 2]``: where score ``s`` (2..5) starts; None when no customer scores ``s``.
    """
    sign = 1.0 if higher_is_better else -1.0
    v = sign * np.asarray(values, dtype=np.float64)
    if not len(v) or not np.isfinite(v).all():
        raise ValueError("RFM edges need at least one customer and finite values")
    uniq, counts = np.unique(v, return_counts=True)
    below = np.cumsum(counts) - counts
    score = 1 + (5 * below) // len(v)  # exact integer arithmetic: no rounding at the boundaries
    edges: list[float | None] = []
    for s in range(2, 6):
        at = np.flatnonzero(score >= s)
        if not at.size:
            edges.append(None)
            continue
        j = int(at[0])  # >= 1: the lowest value has nobody below it, so it scores 1
        # Midway between training values: a feature summed in another order (last bits) scores the same.
        edges.append(float(sign * (uniq[j - 1] / 2 + uniq[j] / 2)))
    return edges


def fit(X: np.ndarray, names: list[str]) -> dict[str, Any] | None:
    """The ``rfm`` section of a model's metadata, or None without the three features.

    Parameters
    ----------
    X : array of shape (n, len(names))
        The training customers' features (original units).
    names : list of str
        The feature names, in column order.
    """
    if not set(RFM_FEATURES) <= set(names):
        return None
    edges = {
        name: fit_edges(X[:, names.index(name)], better)
        for name, better in zip(RFM_FEATURES, HIGHER_IS_BETTER, strict=True)
    }
    return {"edges": edges, "tie_rule": TIE_RULE, "grid": GRID_RULE}


def scores(values: np.ndarray, edges: list[float | None], higher_is_better: bool = True) -> np.ndarray:
    """Scores 1-5 of one feature: 1 + the number of edges passed (None edges never are).

    A value passes an edge when it is at or above it (at or below it for recency).
    """
    v = np.asarray(values, dtype=np.float64)
    out = np.ones(len(v), dtype=np.int64)
    for edge in edges:
        if edge is not None:
            out += (v >= edge) if higher_is_better else (v <= edge)
    return out


def score_matrix(X: np.ndarray, names: list[str], edges: dict[str, list[float | None]]) -> np.ndarray:
    """R, F and M scores of each row of features ``X`` (columns in ``names`` order): shape (n, 3).

    The same scores as :func:`scores` per feature, in one comparison (a request's few rows).
    """
    key = tuple(tuple(edges[name]) for name in RFM_FEATURES)
    picked = X[:, [names.index(name) for name in RFM_FEATURES]] * _SIGNS
    return 1 + (picked[:, :, None] >= _edge_matrix(key)).sum(axis=2)


_SIGNS = np.array([1.0 if better else -1.0 for better in HIGHER_IS_BETTER])


@lru_cache(maxsize=32)
def _edge_matrix(key: tuple[tuple[float | None, ...], ...]) -> np.ndarray:
    """Edges as a (3, 4) array in "higher is better" sign; a null edge is +inf (never passed)."""
    out = np.full((len(RFM_FEATURES), 4), np.inf)
    for i, edges in enumerate(key):
        for j, edge in enumerate(edges):
            if edge is not None:
                out[i, j] = _SIGNS[i] * edge
    return out


def grid_index(rfm: np.ndarray) -> np.ndarray:
    """Index in :data:`GRID_NAMES` of each row of R, F, M scores (shape (n, 3))."""
    r, f, m = rfm[:, 0], rfm[:, 1], rfm[:, 2]
    out = _TABLE[r - 1, f - 1]
    return np.where((r == 1) & (f == 1) & (m == 1), GRID_NAMES.index(LOST), out)


#: :func:`grid_index` of every (R, F, M), as ``[r - 1, f - 1, m - 1]``: one lookup per row.
_CUBE = grid_index(np.indices((5, 5, 5)).reshape(3, -1).T + 1).reshape(5, 5, 5)
_CUBE_NAMES = np.array(GRID_NAMES, dtype=object)[_CUBE]


def columns(X: np.ndarray, names: list[str], section: dict[str, Any] | None) -> dict[str, list[Any]]:
    """The :data:`RFM_COLUMNS` of each row of ``X`` as lists (None throughout without ``section``)."""
    if section is None:
        return {c: [None] * len(X) for c in RFM_COLUMNS}
    rfm = score_matrix(X, names, section["edges"])
    r, f, m = (rfm - 1).T
    return {
        "rfm_r": rfm[:, 0].tolist(),
        "rfm_f": rfm[:, 1].tolist(),
        "rfm_m": rfm[:, 2].tolist(),
        "rfm_segment": _CUBE_NAMES[r, f, m].tolist(),
    }


class RFMGrid:
    """The grid as the segment step of a model (algorithm ``rfm``): fitted state, no sklearn.

    Attributes
    ----------
    positions_ : tuple of int
        Columns of recency_days, frequency and monetary in the feature order.
    edges_ : dict
        The edges per feature (as in the metadata's ``rfm`` section).
    cells_ : ndarray of int
        Per label, its index in :data:`GRID_NAMES` (the grid cells with training customers).
    centroids_ : ndarray of shape (k, n_features)
        Mean scaled features of each cell's training customers.
    """

    def __init__(self, names: list[str], section: dict[str, Any], X: np.ndarray, Xs: np.ndarray) -> None:
        self.positions_ = tuple(names.index(n) for n in RFM_FEATURES)
        self.edges_ = section["edges"]
        cells = grid_index(score_matrix(X, names, self.edges_))
        self.cells_ = np.unique(cells)
        self.centroids_ = np.vstack([Xs[cells == c].mean(axis=0) for c in self.cells_])

    def labels(self, X: np.ndarray, d2: np.ndarray) -> np.ndarray:
        """Label of each row of raw features ``X``; a cell without a segment: the nearest (``d2``)."""
        names = list(RFM_FEATURES)
        picked = X[:, list(self.positions_)]
        cells = grid_index(score_matrix(picked, names, self.edges_))
        lookup = np.full(len(GRID_NAMES), -1, dtype=np.intp)
        lookup[self.cells_] = np.arange(len(self.cells_))
        out = lookup[cells]
        missing = out < 0
        if missing.any():
            out[missing] = d2[missing].argmin(axis=1)
        return out
