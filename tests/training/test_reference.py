"""Training bins and the population stability index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopper_segments.core import reference


def test_bins_are_right_closed_and_merge_ties() -> None:
    edges = np.array([1.0, 2.0, 5.0])
    assert reference.bin_counts(np.array([0.5, 1.0, 1.5, 2.0, 5.0, 9.0]), edges).tolist() == [2, 2, 1, 1]
    # A discrete feature: many equal deciles collapse into few unique edges.
    X = pd.DataFrame({"frequency": [1.0] * 60 + [2.0] * 30 + [3.0] * 10})
    bins = reference.feature_bins(X)["frequency"]
    assert bins["edges"] == [1.0, 2.0]
    assert np.allclose(bins["proportions"], [0.6, 0.3, 0.1])


def test_psi_is_zero_on_the_same_distribution_and_grows_with_shift() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(size=20_000)})
    bins = reference.check_bins(reference.feature_bins(train), ["x"])["x"]
    same = reference.psi(bins["proportions"], reference.bin_counts(train["x"].to_numpy(), bins["edges"]))
    assert same == pytest.approx(0.0, abs=1e-12)
    fresh = reference.psi(bins["proportions"], reference.bin_counts(rng.normal(size=5_000), bins["edges"]))
    shifted = reference.psi(
        bins["proportions"], reference.bin_counts(rng.normal(1.0, 1, 5_000), bins["edges"])
    )
    assert fresh < 0.02 < 0.2 < shifted
    assert reference.psi(bins["proportions"], np.zeros(10)) == 0.0


def test_model_metadata_holds_bins_of_every_feature(sample_model: tuple[Path, dict]) -> None:
    _, meta = sample_model
    bins = reference.check_bins(meta["feature_bins"], meta["features"]["names"])
    for name, b in bins.items():
        assert np.isclose(b["proportions"].sum(), 1.0), name
        assert meta["feature_ranges"][name]["min"] <= b["edges"][0] <= meta["feature_ranges"][name]["max"]


def test_inconsistent_bins_are_refused() -> None:
    with pytest.raises(ValueError, match="feature_bins of x"):
        reference.check_bins({"x": {"edges": [2.0, 1.0], "proportions": [0.3, 0.3, 0.4]}}, ["x"])
