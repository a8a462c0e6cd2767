"""``--algorithm rfm``: the RFM grid as the served model, scored like one k, its segments named by it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from shopper_segments.core import rfm
from shopper_segments.core.errors import DataError
from shopper_segments.core.model import SegmentModel
from shopper_segments.training import k_rule, selection, stability
from shopper_segments.training.algorithms import RFM, fit_rfm, inertia, rfm_stability
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.prepared import Prepared


def fit_grid(
    prep: Prepared, config: TrainConfig, scaler: StandardScaler, Xs: np.ndarray, log: Callable[[str], None]
) -> tuple[Pipeline, dict[str, Any]]:
    """``--algorithm rfm``: the RFM grid, scored like one k (no k range, stability or comparison)."""
    if config.compare or config.k:
        raise DataError("--algorithm rfm has no k to choose or compare: drop --k and --compare")
    X = prep.X.to_numpy(np.float64)  # customers' features, unscaled
    cells = fit_rfm(X, prep.spec.names, Xs)
    k = len(cells.centroids)
    log(f"rfm: {k} grid cells hold the {len(Xs):,} customers")
    mean, std = rfm_stability(X, prep.spec.names, config.seed, stability.STABILITY_RESAMPLES)
    score = {"k": k, "inertia": inertia(Xs, cells), "stability": mean, "stability_std": std}
    info = {
        "rule": "rfm grid: the segments are the grid cells holding training customers (no k chosen)",
        "chosen_k": k,
        "warning": None,
        "elbow": {"k": None, "method": "none: the rfm grid has no k to choose"},
        "stability_threshold": k_rule.STABILITY_MIN,
        "stability": {
            "resamples": stability.STABILITY_RESAMPLES,
            "n_init": 0,
            "max_sample": len(X),
            "measure": "mean ARI of the grid cells under edges fitted on seeded bootstrap resamples",
        },
        "scores": [{**score, **selection.score_labels(Xs, cells.labels, config.seed)}],
    }
    return Pipeline([("scaler", scaler), (RFM, cells.estimator)]), info


def name_segments(segments: list[dict[str, Any]], assignments: pd.DataFrame, model: SegmentModel) -> None:
    """An rfm model's segments get the grid's names and ids (index in ``rfm.GRID_NAMES``), in place."""
    assert model.grid_ is not None
    cells = model.grid_.cells_
    for seg in segments:
        cell = int(cells[seg["label"]])
        seg["id"], seg["name"] = cell, rfm.GRID_NAMES[cell]
        seg["description"] = f"RFM grid cell: {rfm.describe(cell)}"
    labels = assignments["segment_id"].to_numpy()  # without ids, segment_id is the label
    assignments["segment_id"] = cells[labels].astype(np.int64)
    assignments["segment_name"] = [rfm.GRID_NAMES[c] for c in cells[labels]]
