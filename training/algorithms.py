"""The clustering algorithms a model can be trained with: K-means, Gaussian mixture, Ward.

Every algorithm is fitted on scaled features and yields a :class:`Fit`: the fitted
estimator stored after the scaler in ``pipeline.joblib``, its centroids (scaled
space) and the labels the *served* model gives the fitted customers.

- ``kmeans``: :class:`~sklearn.cluster.KMeans` (the default).
- ``gmm``: :class:`~sklearn.mixture.GaussianMixture`, full covariances, initialised
  by K-means; a customer's segment is the most probable component and the service
  also returns every component's probability. Centroids are the component means.
- ``ward``: Ward hierarchical clustering (scipy's linkage, cut to exactly k clusters).
  Ward cannot place a new customer, so the served model is a
  :class:`~sklearn.neighbors.NearestCentroid` on the Ward clusters' centroids: labels
  (training and serving alike) are the nearest centroid's. The tree is quadratic in
  memory, so above :data:`WARD_MAX_FIT` customers it is built on a seeded sample.
- ``rfm``: not a clustering: the named RFM grid (:mod:`segments_core.rfm`) on the
  training customers' quintile scores; the segments are the grid cells holding
  training customers (:func:`fit_rfm`), so there is no k to choose and nothing to compare.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import cut_tree, fcluster, ward
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestCentroid
from threadpoolctl import threadpool_limits

from shopper_segments.core import rfm
from shopper_segments.core.errors import DataError

#: The clusterings (fitted for a range of k, compared with ``--compare``).
CLUSTERINGS = ("kmeans", "gmm", "ward")
RFM = "rfm"
ALGORITHMS = (*CLUSTERINGS, RFM)
#: Ward's linkage holds n*(n-1)/2 distances: 5,000 customers take 100 MB.
WARD_MAX_FIT = 5_000
#: Mixture fits start from K-means and cost more per init than K-means: fewer inits.
GMM_MAX_INIT = 3
#: Below this many customers fits run single-threaded: thread start-up and contention
#: cost more than they save on small arrays (measured: Mall's 200 customers fit 5x
#: faster with one thread on a busy 2-core machine).
PARALLEL_MIN = 50_000


@dataclass(frozen=True)
class Fit:
    """One fitted clustering.

    Attributes
    ----------
    algorithm : str
        One of :data:`ALGORITHMS`.
    estimator : object
        The fitted scikit-learn estimator (pipeline step after the scaler).
    centroids : ndarray of shape (k, n_features)
        Segment centroids (mixture: component means) in scaled space.
    labels : ndarray of shape (n_samples,)
        The served model's label for every row the :class:`Fitter` was given.
    """

    algorithm: str
    estimator: Any
    centroids: np.ndarray
    labels: np.ndarray


def inertia(Xs: np.ndarray, fit: Fit) -> float:
    """Within-segment sum of squared distances to the centroids, over the served labels."""
    return float(((Xs - fit.centroids[fit.labels]) ** 2).sum())


def predict(fit: Fit, Xs: np.ndarray) -> np.ndarray:
    """The served label of each row of scaled features."""
    if fit.algorithm == "gmm":
        return np.asarray(fit.estimator.predict(Xs))
    d2 = ((Xs[:, None, :] - fit.centroids[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d2, axis=1)


class Fitter:
    """Fits one algorithm on one data set for several k.

    What does not depend on k (Ward's tree) is computed once and reused.

    Parameters
    ----------
    algorithm : str
        One of :data:`CLUSTERINGS`.
    Xs : ndarray
        Scaled features.
    seed : int
        Seeds every random step.
    n_init : int
        Initialisations (K-means; mixtures use at most :data:`GMM_MAX_INIT`).
    """

    def __init__(self, algorithm: str, Xs: np.ndarray, seed: int, n_init: int) -> None:
        if algorithm not in CLUSTERINGS:
            raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(CLUSTERINGS)}")
        self.algorithm, self.Xs, self.seed, self.n_init = algorithm, Xs, seed, n_init
        self._tree: tuple[np.ndarray, np.ndarray] | None = None

    def fit(self, k: int) -> Fit:
        """Fit ``k`` segments; labels are for every row of ``Xs``."""
        threads = 1 if len(self.Xs) < PARALLEL_MIN else None
        with warnings.catch_warnings(), threadpool_limits(limits=threads):
            # Bootstrap resamples repeat customers; a non-converged mixture is still scored.
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.algorithm == "kmeans":
                km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.seed).fit(self.Xs)
                centroids = np.asarray(km.cluster_centers_, dtype=np.float64)
                return Fit("kmeans", km, centroids, np.asarray(km.labels_))
            if self.algorithm == "gmm":
                gm = GaussianMixture(
                    n_components=k,
                    covariance_type="full",
                    n_init=min(self.n_init, GMM_MAX_INIT),
                    max_iter=200,
                    random_state=self.seed,
                ).fit(self.Xs)
                means = np.asarray(gm.means_, dtype=np.float64)
                return Fit("gmm", gm, means, np.asarray(gm.predict(self.Xs)))
            return self._fit_ward(k)

    def _fit_ward(self, k: int) -> Fit:
        if self._tree is None:
            n = len(self.Xs)
            rows = np.arange(n)
            if n > WARD_MAX_FIT:
                rows = np.sort(np.random.default_rng(self.seed).choice(n, WARD_MAX_FIT, replace=False))
            self._tree = (rows, ward(self.Xs[rows]))
        rows, tree = self._tree
        tree_labels = fcluster(tree, k, criterion="maxclust") - 1
        if len(np.unique(tree_labels)) != k:  # tied merge heights: cut by merge count (slower)
            tree_labels = cut_tree(tree, n_clusters=k).ravel()
        sub = self.Xs[rows]
        nc = NearestCentroid().fit(sub, tree_labels)
        centroids = np.asarray(nc.centroids_, dtype=np.float64)
        fit = Fit("ward", nc, centroids, np.empty(0, dtype=np.int64))
        return Fit("ward", nc, centroids, predict(fit, self.Xs))


def fit_rfm(X: np.ndarray, names: list[str], Xs: np.ndarray) -> Fit:
    """The RFM grid of the training customers as a :class:`Fit` (algorithm ``rfm``).

    Parameters
    ----------
    X : ndarray
        Features in original units, columns in ``names`` order (scores read them).
    names : list of str
        Feature names; must include ``recency_days``, ``frequency`` and ``monetary``.
    Xs : ndarray
        The same customers' scaled features (centroids: each cell's mean).
    """
    section = rfm.fit(X, names)
    if section is None:
        raise DataError(f"the rfm grid needs {', '.join(rfm.RFM_FEATURES)}; the features are {names}")
    grid = rfm.RFMGrid(names, section, X, Xs)
    d2 = ((Xs[:, None, :] - grid.centroids_[None, :, :]) ** 2).sum(axis=2)
    return Fit(RFM, grid, grid.centroids_, grid.labels(X, d2))


def rfm_stability(X: np.ndarray, names: list[str], seed: int, resamples: int) -> tuple[float, float]:
    """Mean and spread of the ARI between grid labelings of every customer, over pairs of edges
    fitted on ``resamples`` seeded bootstrap resamples (as clusterings' stability)."""
    n = len(X)
    labelings = []
    for b in range(resamples):
        rows = np.random.default_rng([seed, b]).integers(0, n, n)
        section = rfm.fit(X[rows], names)
        assert section is not None
        labelings.append(rfm.grid_index(rfm.score_matrix(X, names, section["edges"])))
    aris = [adjusted_rand_score(a, b) for a, b in combinations(labelings, 2)]
    return float(np.mean(aris)), float(np.std(aris))
