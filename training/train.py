"""The training steps: load, clean, features, select k, fit, evaluate, match identities, save.

Metadata keys written by selection and identity (read by the report, the service)
-------------------------------------------------------------------------------
``algorithm``
    ``"kmeans"``, ``"gmm"``, ``"ward"`` or ``"rfm"``; ``pipeline.joblib`` holds
    ``Pipeline([("scaler", StandardScaler), (algorithm, KMeans | GaussianMixture |
    NearestCentroid | RFMGrid)])``, always fitted on transformed features. An ``rfm``
    model's segments are the RFM grid cells with customers (id = index in
    ``segments_core.rfm.GRID_NAMES``, name = the grid's name; no identity matching).
``rfm``
    RFM score edges (``segments_core.rfm.fit``), null without recency/frequency/monetary.
``selection``
    ``rule`` (text), ``chosen_k``, ``warning`` (null unless no k was stable),
    ``elbow`` (``{"k": int | null, "method": str}``), ``stability_threshold``,
    ``stability`` (how it was measured: ``resamples``, ``n_init``, ``max_sample``),
    ``scores``: one dict per k with ``k``, ``inertia``, ``silhouette``,
    ``calinski_harabasz``, ``davies_bouldin``, ``stability``, ``stability_std``.
    With ``--compare``: ``comparison`` = ``{"algorithms": [{"algorithm", "chosen_k",
    "silhouette", "calinski_harabasz", "davies_bouldin", "stability", "inertia",
    "elbow_k", "warning", "scores": [per k as above]}, ...]}`` (scores at each
    algorithm's own chosen k; the served model is ``algorithm``'s).
``segments``
    In label order (``label`` = row of the centroids); ``id`` is the stable id.
``identity``
    Null without a previous model; else ``previous_version``, ``previous_path``,
    ``method`` (``shared_customers`` or ``centroid_distance``), ``rule``, ``matched_on``,
    ``own_scale_features``, ``max_distance``, ``keep_share``, ``min_shared_customers``,
    ``shared_customers``, ``pairs`` (per previous segment: ``previous_id``,
    ``previous_name``, ``label``, ``shared_customers``, ``overlap_share``,
    ``source_share``, ``jaccard``, ``mutual_best``, ``distance``, ``kept``, ``reason``),
    ``new_ids``, ``vanished`` (``id``, ``name``), ``next_free_id`` and ``migration``
    (``previous_ids``, ``new_ids``, ``counts`` rows x columns, ``customers_in_both``,
    ``only_previous``, ``only_new``, ``kept_segment``); see :mod:`training.identity`.
``assignments.parquet``
    ``customer_id``, ``segment_id`` (stable id), ``segment_name``, the features in
    original units, ``rfm_r``, ``rfm_f``, ``rfm_m``, ``rfm_segment`` (null without the
    ``rfm`` section); a mixture model adds ``probability_<id>`` per segment.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from shopper_segments.core import artifact, features, reference, rfm, signing, transforms
from shopper_segments.core.errors import DataError
from shopper_segments.core.model import SegmentModel
from shopper_segments.training import frames, grid, identity, migration, selection
from shopper_segments.training.activity import monthly_activity
from shopper_segments.training.algorithms import (
    ALGORITHMS,
    CLUSTERINGS,
    RFM,
)
from shopper_segments.training.config import TrainConfig, check_config
from shopper_segments.training.evaluation import evaluate
from shopper_segments.training.inputs import input_sha256
from shopper_segments.training.loading import LoadReport, load_customer_table, load_transactions
from shopper_segments.training.prepared import Prepared


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare(config: TrainConfig, loaded: tuple[pd.DataFrame, LoadReport] | None = None) -> Prepared:
    """Load, clean and compute features (steps 1-3); ``loaded``: the file already loaded."""
    if config.table_columns:
        X, report = load_customer_table(
            config.input, config.table_columns, config.table_id, config.dataset.max_bad_fraction
        )
        spec = features.table_spec(config.table_columns, config.log_columns)
        summary = _summary(report, {}, len(X), {}, None, None)
        return Prepared(X, spec, summary)
    log(f"loading {config.input}")
    lines, report = loaded if loaded is not None else load_transactions(config.input, config.dataset)
    dropped: dict[str, int] = {}
    if config.until is not None:
        late = lines["timestamp"] >= config.until
        dropped[f"at_or_after_until ({config.until.isoformat()})"] = int(late.sum())
        lines = lines[~late]
    cleaned = frames.clean(lines)
    lines, dropped = cleaned.lines, {**cleaned.dropped, **dropped}
    if lines.empty:
        raise DataError(f"{config.input}: no usable lines left after cleaning ({dropped})")
    as_of = config.as_of if config.as_of is not None else frames.default_as_of(lines)
    if lines["timestamp"].max() > as_of:
        raise DataError(f"as_of {as_of} is before the last transaction {lines['timestamp'].max()}")
    cats = frames.top_categories(lines, config.categories_kept)
    spec = features.rfm_spec("amount" in lines, cats, config.dataset.timezone)
    n_customers = len(cleaned.customer_ids)  # every customer with a line, kept or dropped
    log(f"computing features of {n_customers:,} customers")
    X = frames.compute_features(lines, spec, as_of)
    if X.empty:
        raise DataError(
            f"{config.input}: none of the {n_customers:,} customers has a purchase "
            "line (only returns or dropped lines): nothing to segment"
        )
    no_purchase = n_customers - len(X)
    returns = int((lines["amount"] < 0).sum()) if "amount" in lines else 0
    summary = _summary(report, dropped, len(X), {"no_purchases": no_purchase}, lines, as_of)
    summary["return_lines_kept"] = returns
    summary["monthly"] = monthly_activity(lines)
    if not spec.has_money:
        summary["note"] = "no money columns: trained without monetary features"
    return Prepared(X, spec, summary)


def _summary(
    report: LoadReport,
    dropped: dict[str, int],
    customers: int,
    customers_dropped: dict[str, int],
    lines: pd.DataFrame | None,
    as_of: pd.Timestamp | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rows_read": report.rows_read,
        "rows_dropped": {**{f"bad: {k}": v for k, v in report.bad_rows.items()}, **dropped},
        "bad_row_examples": report.bad_examples,
        "customers": customers,
        "customers_dropped": customers_dropped,
    }
    if lines is not None:
        out["rows_used"] = len(lines)
        out["date_range"] = [lines["timestamp"].min().isoformat(), lines["timestamp"].max().isoformat()]
        out["as_of"] = pd.Timestamp(as_of).isoformat()
        if report.category_missing:
            out["lines_without_category"] = report.category_missing
    return out


def fit(prep: Prepared, config: TrainConfig) -> tuple[Pipeline, dict[str, Any]]:
    """Select k (unless given) and fit the scaler + algorithm pipeline (steps 4-5)."""
    if config.algorithm not in ALGORITHMS:
        raise DataError(f"algorithm {config.algorithm!r} is not one of {', '.join(ALGORITHMS)}")
    Xt = transforms.transform_features(prep.X.to_numpy(np.float64), prep.spec)
    scaler = StandardScaler().fit(Xt)
    Xs = scaler.transform(Xt)
    if config.algorithm == RFM:
        return grid.fit_grid(prep, config, scaler, Xs, log)
    k_range = (config.k_min, config.k_max)
    k_values = selection.k_values(Xs, config.k, k_range)
    runs = {}
    for algorithm in CLUSTERINGS if config.compare else (config.algorithm,):
        log(f"{algorithm}: scoring k in {k_values[0]}..{k_values[-1]} on {len(Xs):,} customers")
        runs[algorithm] = selection.select(
            Xs, k_values, algorithm, config.seed, config.n_init, config.k, log=log, k_range=k_range
        )
    info, chosen = runs[config.algorithm]
    if config.compare:
        info["comparison"] = {"algorithms": [selection.compared(name, i) for name, (i, _) in runs.items()]}
    pipeline = Pipeline([("scaler", scaler), (config.algorithm, chosen.estimator)])
    return pipeline, info


def _report_hook(config: TrainConfig) -> Callable[[Path], object] | None:
    """Writes the report into the model directory before it is renamed into place."""
    if not config.report:
        return None
    from shopper_segments.training.report import (  # matplotlib: only when reporting
        ReportOptions,
        write_report,
    )

    options = ReportOptions(config.demographics, config.demographics_id, log=log)
    options.check()
    return partial(write_report, options=options)


def train(
    config: TrainConfig, prepare_step: Callable[[TrainConfig], Prepared] | None = None
) -> tuple[Path, dict[str, Any]]:
    """Run every step and save the model version; returns its directory and metadata.

    ``prepare_step`` replaces :func:`prepare` (steps 1-3), e.g. the Spark engine's.
    """
    check_config(config)
    started = time.perf_counter()
    report_hook = _report_hook(config)
    key = signing.load_private_key(config.signing_key) if config.signing_key else None  # before fitting
    previous_dir = config.previous or (
        identity.latest_version(config.out, config.name) if config.use_previous else None
    )
    previous = identity.load_previous(previous_dir) if previous_dir else None  # fail before fitting
    prep = prepare_step(config) if prepare_step else prepare(config)
    pipeline, selection_info = fit(prep, config)
    model = SegmentModel.from_pipeline(prep.spec, pipeline)
    previous = None if config.algorithm == RFM else previous  # grid ids are fixed: nothing to match
    ids = identity.match(previous, model, prep.X) if previous else None
    segments, assignments = evaluate(prep, model, config.names_file, ids, currency=config.currency)
    if config.algorithm == RFM:
        grid.name_segments(segments, assignments, model)
    X = prep.X.to_numpy(np.float64)
    rfm_section = rfm.fit(X, prep.spec.names)
    for column, values in rfm.columns(X, prep.spec.names, rfm_section).items():
        assignments[column] = pd.array(values, dtype=object if column == "rfm_segment" else "Int64")
    if previous and ids:
        log(f"segment ids matched to the previous model {previous.path}")
        ids.info["previous_default"] = config.previous is None
        ids.info["migration"] = migration.migration(
            previous.assignments, assignments[["customer_id", "segment_id"]]
        )
    data_sha = input_sha256(config.input)  # a file, or a directory's or glob's files
    created = dt.datetime.now(dt.UTC)
    version = f"{config.name}-{created:%Y%m%dT%H%M%SZ}-{data_sha[:8]}"
    n = 2
    while (config.out / config.name / version).exists():  # retrained within the same second
        version, n = f"{config.name}-{created:%Y%m%dT%H%M%SZ}-{data_sha[:8]}-{n}", n + 1
    metadata = {
        "schema_version": artifact.SCHEMA_VERSION,
        "version": version,
        "name": config.name,
        "created_at": created.isoformat(),
        "algorithm": config.algorithm,
        "data": {
            "file": config.input.name,
            "sha256": data_sha,
            "kind": "table" if prep.spec.is_table else "transactions",
            **prep.summary,
        },
        "features": prep.spec.to_dict(),
        "feature_ranges": reference.feature_ranges(prep.X),
        "feature_bins": reference.feature_bins(prep.X),
        "pipeline_input": "transformed features (features.transforms applied), spec order",
        "parameters": {
            "seed": config.seed,
            "n_init": config.n_init,
            "k": config.k,
            "k_range": [config.k_min, config.k_max],
            "currency": config.currency,
            "top_categories": config.categories_kept,
            "silhouette_sample": selection.SILHOUETTE_SAMPLE,
            "algorithm": config.algorithm,
            "compare": config.compare,
            "until": config.until.isoformat() if config.until is not None else None,
        },
        "selection": selection.complete({"comparison": None, **selection_info}),
        "segments": [{"revenue_share": None, **seg} for seg in segments],
        "identity": ids.info if ids else None,
        "rfm": rfm_section,
        "libraries": artifact.library_versions(),
        "training_seconds": round(time.perf_counter() - started, 3),
    }
    path = artifact.save_model(  # parses the metadata as the contract (ModelMetadata) and writes that
        config.out, config.name, version, pipeline, metadata, assignments, extras=report_hook, signing_key=key
    )
    return path, artifact.read_metadata(path).to_dict()
