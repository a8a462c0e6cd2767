"""Stability of a clustering: seeded bootstrap fits compared on the same customers.

Fast exact pair counting (one bincount per pair of labelings) keeps 40 resamples x
9 ks x 780 pairs within a second or two on the real shops.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from shopper_segments.training.algorithms import Fitter, predict

#: 40 resamples x 4 inits: two seeds give every k's stability within about 0.07 on the real shops.
STABILITY_RESAMPLES = 40
STABILITY_N_INIT = 4
#: Bootstrap resamples and the labelled customers hold at most this many customers.
STABILITY_SAMPLE = 5_000
#: Up to this many customers K-means resample fits run batched in numpy (:func:`kmeans_centers`):
#: scikit-learn's per-fit overhead (about 10 ms) dominates on small sets.
BATCH_MAX = 1_000
#: Mixture and Ward fits cost 5-20x a K-means fit: fewer resamples (they are compared, not the default).
SLOW_RESAMPLES = {"gmm": 20, "ward": 20}


def resamples_of(algorithm: str) -> int:
    """Bootstrap resamples the stability of ``algorithm`` is measured on."""
    return SLOW_RESAMPLES.get(algorithm, STABILITY_RESAMPLES)


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of rows per (label in ``a``, label in ``b``); labels are 0..k-1."""
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    return np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(np.float64)


def adjusted_rand(a: np.ndarray, b: np.ndarray) -> float:
    """The adjusted Rand index of two labelings (sklearn's value, from one bincount)."""
    table = contingency(a, b)
    pairs = lambda x: float((x * (x - 1.0)).sum() / 2.0)  # noqa: E731
    both, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * cols / (len(a) * (len(a) - 1.0) / 2.0)
    top = (rows + cols) / 2.0
    return 1.0 if top == expected else (both - expected) / (top - expected)


def best_jaccard(reference: np.ndarray, other: np.ndarray, k: int) -> np.ndarray:
    """Per reference segment 0..k-1, its largest Jaccard overlap with a segment of ``other``."""
    table = contingency(reference, other)
    table = np.vstack([table, np.zeros((k - len(table), table.shape[1]))]) if len(table) < k else table
    union = table.sum(axis=1)[:, None] + table.sum(axis=0)[None, :] - table
    return np.asarray((table / np.maximum(union, 1.0)).max(axis=1))


def kmeans_centers(
    samples: np.ndarray, k: int, rng: np.random.Generator, n_init: int, max_iter: int = 100, tol: float = 1e-4
) -> np.ndarray:
    """Lloyd's K-means with k-means++ starts on every sample at once (numpy, batched).

    Parameters
    ----------
    samples : ndarray of shape (r, m, f)
        ``r`` samples of ``m`` rows each.
    k, n_init : int
        Segments; starts per sample (the lowest inertia wins, as in scikit-learn).
    rng : Generator
        Draws the starts.
    max_iter, tol : int, float
        Stop when every start's centers move less than ``tol`` times the sample's mean variance.

    Returns
    -------
    ndarray of shape (r, k, f)
        The centers of each sample's best start.
    """
    r, m, f = samples.shape
    X = np.repeat(samples, n_init, axis=0)  # (b, m, f), b = r * n_init
    b = len(X)
    rows = np.arange(b)
    sq = (X * X).sum(axis=2)
    centers = np.empty((b, k, f))
    centers[:, 0] = X[rows, rng.integers(0, m, b)]
    d2 = ((X - centers[:, :1]) ** 2).sum(axis=2)
    for j in range(1, k):  # k-means++: the next start with probability proportional to d2
        cum = np.cumsum(d2, axis=1)
        target = rng.random(b) * cum[:, -1]
        pick = np.minimum((cum < target[:, None]).sum(axis=1), m - 1)
        centers[:, j] = X[rows, pick]
        d2 = np.minimum(d2, ((X - centers[:, j : j + 1]) ** 2).sum(axis=2))
    limit = tol * X.var(axis=1).mean(axis=1)
    for _ in range(max_iter):
        dist = sq[:, :, None] - 2.0 * X @ centers.transpose(0, 2, 1) + (centers**2).sum(axis=2)[:, None, :]
        onehot = np.eye(k)[dist.argmin(axis=2)]  # (b, m, k)
        counts = onehot.sum(axis=1)
        sums = onehot.transpose(0, 2, 1) @ X
        moved = np.where(counts[:, :, None] > 0, sums / np.maximum(counts, 1.0)[:, :, None], centers)
        shift = ((moved - centers) ** 2).sum(axis=(1, 2))
        centers = moved
        if (shift <= limit).all():
            break
    dist = sq[:, :, None] - 2.0 * X @ centers.transpose(0, 2, 1) + (centers**2).sum(axis=2)[:, None, :]
    inertia = dist.min(axis=2).sum(axis=1).reshape(r, n_init)
    best = inertia.argmin(axis=1)
    return np.asarray(centers.reshape(r, n_init, k, f)[np.arange(r), best])


def nearest(Xs: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest center for every row."""
    return np.asarray(((Xs[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1))


class Resamples:
    """The seeded bootstrap fitters and the customers whose labelings are compared (reused across k)."""

    def __init__(self, Xs: np.ndarray, algorithm: str, seed: int) -> None:
        n = len(Xs)
        size = min(n, STABILITY_SAMPLE)
        self.rows = np.arange(n)
        if n > STABILITY_SAMPLE:
            self.rows = np.sort(np.random.default_rng([seed, 10_000]).choice(n, size, replace=False))
        self.Xs = Xs[self.rows]
        self.seed = seed
        picks = [
            np.random.default_rng([seed, b]).integers(0, n, size) for b in range(resamples_of(algorithm))
        ]
        self.batched = (
            np.stack([Xs[p] for p in picks]) if algorithm == "kmeans" and size <= BATCH_MAX else None
        )
        self.fitters = (
            []
            if self.batched is not None
            else [Fitter(algorithm, Xs[p], seed + 1 + b, STABILITY_N_INIT) for b, p in enumerate(picks)]
        )

    def labelings(self, k: int) -> list[np.ndarray]:
        """Each resample fit's labels of the compared customers."""
        if self.batched is None:
            return [predict(f.fit(k), self.Xs) for f in self.fitters]
        rng = np.random.default_rng([self.seed, 20_000, k])
        return [nearest(self.Xs, c) for c in kmeans_centers(self.batched, k, rng, STABILITY_N_INIT)]

    def stability(self, k: int, reference: np.ndarray) -> dict[str, Any]:
        """Mean and std of the pairwise ARI, and each reference segment's mean best Jaccard.

        ``reference`` is the full-data fit's labels of every customer.
        """
        labelings = self.labelings(k)
        aris = [adjusted_rand(a, b) for a, b in combinations(labelings, 2)]
        ref = reference[self.rows]
        jaccard = np.mean([best_jaccard(ref, lab, k) for lab in labelings], axis=0)
        return {
            "stability": float(np.mean(aris)),
            "stability_std": float(np.std(aris)),
            "segment_stability": [round(float(j), 4) for j in jaccard],
        }
