"""The per-feature transforms applied before scaling (``FeatureSpec.transforms``).

Training fits the scaler on transformed features and serving transforms a customer's features
the same way before the nearest centroid (:mod:`segments_core.model`): both call
:func:`transform_features`.
"""

from __future__ import annotations

import numpy as np

from shopper_segments.core.features import FeatureSpec


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
