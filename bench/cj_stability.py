"""Why the Complete Journey sample's segments are unstable: stability per k and per segment, by variant.

Run: .venv/bin/python bench/cj_stability.py [--seeds 42 7] [--k 4 8]
(needs ../shared/data). Scores K-means at every k of the range, as ``segments`` does
(:func:`training.selection.score_k_range`), on the sample's features under variations:

- ``top N``: the product's features with the N top departments as shares (0: RFM only);
- ``shrink A``: each share pulled toward the population mean with weight ``n / (n + A)``,
  ``n`` the customer's purchase lines (empirical-Bayes style; a share from 2 lines is 0, 0.5 or 1);
- ``sqrt``: square-root shares (Hellinger); ``block``: the shares scaled by one common
  standard deviation instead of one each; ``no other``: the redundant ``share_other`` left out;
- estimator checks: resample fits with 10 inits instead of 4; 80 % subsamples without
  replacement instead of bootstrap resamples; the full data with 20 seeds and no resampling
  (how much comes from K-means' local optima alone).

Prints one row per variant and seed: per k, "stability (lowest segment)", and the k the rule
chooses. Stability is the mean pairwise ARI of the resample fits; a segment's is its mean best
Jaccard overlap with a resample fit's segment (stable from 0.75).
"""

from __future__ import annotations

import argparse
import time
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from shopper_segments.core import transforms
from shopper_segments.training import k_rule, selection, stability, train
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.loading import load_transactions

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "complete_journey" / "transactions_sample.csv.gz"
SPEC = ROOT / "training" / "datasets" / "complete_journey.toml"

#: (label, top categories, share variant, estimator)
VARIANTS = [
    ("top 8 (default)", 8, "raw", "bootstrap"),
    ("top 5", 5, "raw", "bootstrap"),
    ("top 4", 4, "raw", "bootstrap"),
    ("top 3", 3, "raw", "bootstrap"),
    ("top 2", 2, "raw", "bootstrap"),
    ("top 0 (RFM only)", 0, "raw", "bootstrap"),
    ("top 8 shrink A=2", 8, "shrink2", "bootstrap"),
    ("top 8 shrink A=10", 8, "shrink10", "bootstrap"),
    ("top 3 shrink A=5", 3, "shrink5", "bootstrap"),
    ("top 8 sqrt", 8, "sqrt", "bootstrap"),
    ("top 8 block", 8, "block", "bootstrap"),
    ("top 8 no other", 8, "noother", "bootstrap"),
    ("top 8, 10 inits", 8, "raw", "ninit10"),
    ("top 8, 80% subsamples", 8, "raw", "subsample"),
    ("top 8, seeds only", 8, "raw", "seeds"),
    ("top 0, seeds only", 0, "raw", "seeds"),
]


def matrix(config: TrainConfig, loaded: Any, top: int, variant: str) -> np.ndarray:
    """Scaled features of every customer under ``variant``."""
    config.top_categories = top
    prep = train.prepare(config, loaded)
    X, spec = prep.X.to_numpy(np.float64), prep.spec
    Xt = transforms.transform_features(X, spec)
    share = np.array([n.startswith("share_") for n in spec.names])
    if variant.startswith("shrink"):
        lines = loaded[0]
        counts = lines[lines["amount"] > 0].groupby("customer_id").size()
        n = counts.reindex(prep.X.index).fillna(0).to_numpy(np.float64)[:, None]
        w = n / (n + float(variant.removeprefix("shrink")))
        Xt[:, share] = w * Xt[:, share] + (1.0 - w) * Xt[:, share].mean(axis=0)
    elif variant == "sqrt":
        Xt[:, share] = np.sqrt(Xt[:, share])
    Xs = StandardScaler().fit_transform(Xt)
    if variant == "block":
        S = Xt[:, share]
        Xs[:, share] = (S - S.mean(axis=0)) / S.std()
    if variant == "noother":
        Xs = Xs[:, [n != "share_other" for n in spec.names]]
    return np.asarray(Xs)


def refit_stability(Xs: np.ndarray, k: int, seed: int, reference: np.ndarray, mode: str) -> dict[str, Any]:
    """Stability from 20 fits on 80 % subsamples (without replacement) or on all rows with new seeds."""
    n, labelings = len(Xs), []
    for b in range(20):
        rng = np.random.default_rng([seed, b])
        rows = np.sort(rng.choice(n, int(0.8 * n), replace=False)) if mode == "subsample" else np.arange(n)
        fit = KMeans(k, n_init=stability.STABILITY_N_INIT, random_state=seed + 1 + b).fit(Xs[rows])
        labelings.append(fit.predict(Xs))
    aris = [stability.adjusted_rand(a, b) for a, b in combinations(labelings, 2)]
    jaccard = np.mean([stability.best_jaccard(reference, lab, k) for lab in labelings], axis=0)
    return {"stability": float(np.mean(aris)), "segment_stability": [float(j) for j in jaccard]}


def scores(Xs: np.ndarray, ks: list[int], seed: int, estimator: str) -> list[dict[str, Any]]:
    """Per k: stability, silhouette, per-segment stability (the product's estimator or a check)."""
    if estimator in ("bootstrap", "ninit10"):
        saved = stability.STABILITY_N_INIT
        stability.STABILITY_N_INIT = 10 if estimator == "ninit10" else saved
        try:
            return selection.score_k_range(Xs, ks, seed)[0]
        finally:
            stability.STABILITY_N_INIT = saved
    out = []
    for k in ks:
        labels = KMeans(k, n_init=10, random_state=seed).fit(Xs).labels_
        entry = {"k": k, **selection.score_labels(Xs, labels, seed)}
        out.append(entry | refit_stability(Xs, k, seed, labels, estimator))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7])
    parser.add_argument("--k", type=int, nargs=2, default=list(k_rule.K_RANGE), metavar=("MIN", "MAX"))
    args = parser.parse_args()
    train.log = lambda message: None  # type: ignore[assignment]
    config = TrainConfig(input=DATA, dataset=DatasetSpec.from_toml(SPEC), report=False)
    loaded = load_transactions(config.input, config.dataset)
    ks = list(range(args.k[0], args.k[1] + 1))
    print(f"| variant | seed | {' | '.join(f'k={k}' for k in ks)} | chosen k | s |")
    print(f"|---|---|{'---|' * len(ks)}---|---|")
    for label, top, variant, estimator in VARIANTS:
        Xs = matrix(config, loaded, top, variant)
        for seed in args.seeds:
            started = time.perf_counter()
            rows = scores(Xs, ks, seed, estimator)
            k, _ = k_rule.choose_k(rows, (ks[0], ks[-1]))
            cells = [f"{s['stability']:.2f} ({min(s['segment_stability']):.2f})" for s in rows]
            seconds = time.perf_counter() - started
            print(f"| {label} | {seed} | {' | '.join(cells)} | {k} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
