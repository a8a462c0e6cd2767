"""The fitted segment model as plain arrays: transform, scale, nearest centroid.

Training writes its assignments with :meth:`SegmentModel.assign` and the service
answers with the same method, so both give the same segment for the same features.
The scaler is folded into the centroids' space once; assignment is a numpy argmin,
identical to ``Pipeline(StandardScaler, KMeans).predict`` (and to NearestCentroid's
predict for Ward models). A Gaussian-mixture model assigns the most probable
component and also returns every component's probability; an RFM grid model
(:class:`segments_core.rfm.RFMGrid`) the segment of the customer's grid cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import Pipeline

from shopper_segments.core.features import FeatureSpec
from shopper_segments.core.rfm import RFMGrid
from shopper_segments.core.transforms import transform_features, transform_plan


class Assignment(NamedTuple):
    """Per-customer result arrays (row i belongs to input row i); a named tuple, cheap per request."""

    segment_index: np.ndarray
    distance: np.ndarray
    next_index: np.ndarray
    next_distance: np.ndarray
    probabilities: np.ndarray | None = None


@dataclass(frozen=True)
class SegmentModel:
    """Fitted state needed to assign customers.

    Attributes
    ----------
    spec : FeatureSpec
        The feature definition the model was trained on.
    mean_, scale_ : ndarray
        StandardScaler statistics (on transformed features).
    centroids_ : ndarray of shape (k, n_features)
        Segment centroids in scaled space, in label order (mixture: component means).
    algorithm : str
        ``"kmeans"``, ``"ward"`` (both nearest centroid), ``"gmm"`` or ``"rfm"``.
    mixture_ : GaussianMixture or None
        The fitted mixture of a ``"gmm"`` model (it gives the probabilities).
    grid_ : RFMGrid or None
        The RFM grid of an ``"rfm"`` model (its cell gives the segment).
    """

    spec: FeatureSpec
    mean_: np.ndarray
    scale_: np.ndarray
    centroids_: np.ndarray
    algorithm: str = "kmeans"
    mixture_: Any = None
    grid_: RFMGrid | None = None

    @classmethod
    def from_pipeline(cls, spec: FeatureSpec, pipeline: Pipeline) -> SegmentModel:
        """Read a fitted ``Pipeline(scaler, KMeans | GaussianMixture | NearestCentroid)``."""
        scaler, step = pipeline.steps[0][1], pipeline.steps[-1][1]
        mixture, grid = None, None
        if isinstance(step, KMeans):
            algorithm, centroids = "kmeans", step.cluster_centers_
        elif isinstance(step, NearestCentroid):
            algorithm, centroids = "ward", step.centroids_
        elif isinstance(step, GaussianMixture):
            algorithm, centroids, mixture = "gmm", step.means_, step
        elif isinstance(step, RFMGrid):
            algorithm, centroids, grid = "rfm", step.centroids_, step
        else:
            raise TypeError(f"unknown segment estimator {type(step).__name__}")
        return cls(
            spec=spec,
            mean_=np.asarray(scaler.mean_, dtype=np.float64),
            scale_=np.asarray(scaler.scale_, dtype=np.float64),
            centroids_=np.asarray(centroids, dtype=np.float64),
            algorithm=algorithm,
            mixture_=mixture,
            grid_=grid,
        )

    @property
    def n_segments(self) -> int:
        return int(self.centroids_.shape[0])

    @cached_property
    def plan_(self) -> tuple[np.ndarray, np.ndarray, bool]:
        return transform_plan(self.spec)

    def scale(self, X: np.ndarray) -> np.ndarray:
        """Transform then standardize raw features (original units, spec order)."""
        Xs = transform_features(X, self.spec, self.plan_)
        np.subtract(Xs, self.mean_, out=Xs)
        return np.divide(Xs, self.scale_, out=Xs)

    def assign(self, X: np.ndarray) -> Assignment:
        """Nearest and next-nearest segment of each row of raw features ``X``.

        K-means and Ward: the nearest centroids. Mixture: the most and second most
        probable components, with ``probabilities`` (rows sum to 1); distances are
        to the component means. RFM grid: the segment of the row's grid cell (the
        nearest centroid when no training customer had that cell), then the nearest
        other centroid.
        """
        if not len(X):
            none, empty = np.zeros(0, dtype=np.intp), np.zeros(0)
            proba = None if self.mixture_ is None else np.zeros((0, self.n_segments))
            return Assignment(none, empty, none, empty, proba)
        Xs = self.scale(X)
        # ||x - c||^2 computed directly (not by the expanded dot-product form) so ties
        # and rounding match scikit-learn's predict on the same float64 data.
        diff = Xs[:, None, :] - self.centroids_
        d2 = np.square(diff, out=diff).sum(axis=2)
        if self.mixture_ is not None:
            proba = np.asarray(self.mixture_.predict_proba(Xs), dtype=np.float64)
            order = np.argsort(-proba, axis=1, kind="stable")
            rows = np.arange(len(Xs))
            best = order[:, 0]
            nxt = order[:, 1] if self.n_segments > 1 else best
            return Assignment(best, np.sqrt(d2[rows, best]), nxt, np.sqrt(d2[rows, nxt]), proba)
        if self.grid_ is not None:  # the grid cell's segment; next: the nearest other centroid
            rows = np.arange(len(Xs))
            best = self.grid_.labels(X, d2)
            others = d2.copy()
            others[rows, best] = np.inf
            nxt = others.argmin(axis=1) if self.n_segments > 1 else best
            return Assignment(best, np.sqrt(d2[rows, best]), nxt, np.sqrt(d2[rows, nxt]))
        # Array methods, not np.argsort/np.sort: the wrappers cost more than the sort of a row.
        order = d2.argsort(axis=1, kind="stable")
        d2.sort(axis=1)  # in place: the sorted values are the distances in ``order``'s order
        nearest = np.sqrt(d2[:, :2])
        second = 1 if self.n_segments > 1 else 0
        return Assignment(order[:, 0], nearest[:, 0], order[:, second], nearest[:, second])

    def centroids_original(self) -> np.ndarray:
        """Centroids mapped back to original units (inverse scaling and transforms)."""
        Xt = self.centroids_ * self.scale_ + self.mean_
        out = Xt.copy()
        for j, name in enumerate(self.spec.names):
            kind = self.spec.transforms[name]
            if kind == "log1p":
                out[:, j] = np.expm1(Xt[:, j])
            elif kind == "signed_log1p":
                out[:, j] = np.sign(Xt[:, j]) * np.expm1(np.abs(Xt[:, j]))
        return out
