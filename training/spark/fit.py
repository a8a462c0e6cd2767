"""Training with the Spark engine: features in the partitions, the fit in the driver, one save.

:func:`prepare` is training's steps 1-3 on Spark; :func:`train` hands it to
:func:`training.train.train`, so selection, fitting, naming, metadata and the model
directory are the local engine's own: the service cannot tell the engines' models apart.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shopper_segments.core import features
from shopper_segments.core.errors import DataError
from shopper_segments.training import frames
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.prepared import Prepared
from shopper_segments.training.spark import partitions
from shopper_segments.training.spark.lines import LinesSummary, canonical_lines
from shopper_segments.training.spark.session import SparkOptions, get_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def train(config: TrainConfig, options: SparkOptions) -> tuple[Path, dict[str, Any]]:
    """:func:`training.train.train` with the features computed by Spark; its directory and metadata."""
    from shopper_segments.training.train import train as train_model

    return train_model(config, prepare_step=partial(prepare, options=options))


def prepare(config: TrainConfig, options: SparkOptions) -> Prepared:
    """Steps 1-3 on Spark: canonical lines, cleaning, as_of, top categories and features.

    The features of every customer are computed in the partitions; the driver collects
    them all when there are at most ``options.collect_limit`` customers, else a seeded
    sample of ``options.sample_size`` (recorded under ``data.engine``).

    Raises
    ------
    DataError
        As the local engine: too many bad rows, no usable line, as_of before the last line.
    """
    from pyspark import StorageLevel
    from pyspark.sql.pandas.types import from_arrow_schema

    from shopper_segments.training.train import _summary, log

    if config.table_columns:
        raise DataError(
            "--engine spark trains on transaction lines; fit a customer table with --engine local"
        )
    spark = get_session(options)
    log(f"spark ({spark.sparkContext.master}): reading {config.input}")
    lines, found = canonical_lines(spark, config.input, config.dataset, options, config.until)
    try:
        if not found.rows_used or found.time_range is None:
            raise DataError(f"{config.input}: no usable lines left after cleaning ({found.dropped})")
        first, last = (pd.Timestamp(t, tz="UTC") for t in found.time_range)
        as_of = (
            config.as_of
            if config.as_of is not None
            else frames.default_as_of(pd.DataFrame({"timestamp": [last]}))
        )
        if last > as_of:
            raise DataError(f"as_of {as_of} is before the last transaction {last}")
        has_money = "amount" in lines.columns
        spend = pd.DataFrame({"category": list(found.spend), "amount": list(found.spend.values())})
        cats = frames.top_categories(spend, config.categories_kept) if "category" in lines.columns else []
        spec = features.rfm_spec(has_money, cats, config.dataset.timezone)
        log(
            f"computing features of {found.customers:,} customers"
            f" in {lines.rdd.getNumPartitions()} partitions"
        )
        schema = from_arrow_schema(partitions.feature_schema(spec))
        feats = lines.mapInArrow(partial(partitions.feature_batches, spec=spec, as_of=as_of), schema)
        feats = feats.persist(StorageLevel.DISK_ONLY)
        try:
            n = feats.count()
            if not n:
                raise DataError(
                    f"{config.input}: none of the {found.customers:,} customers has a purchase "
                    "line (only returns or dropped lines): nothing to segment"
                )
            sampled = n > options.collect_limit
            if sampled:
                log(f"fitting on a sample of about {options.sample_size:,} of {n:,} customers")
                feats_fit = feats.sample(False, min(1.0, options.sample_size / n), seed=config.seed)
            else:
                feats_fit = feats
            X = collect_features(feats_fit, spec)
        finally:
            feats.unpersist()
        engine = {
            "name": "spark",
            "master": spark.sparkContext.master,
            "partitions": lines.rdd.getNumPartitions(),
            "fit_customers": len(X),
            "fit_sample": {"size": options.sample_size, "seed": config.seed} if sampled else None,
        }
    finally:
        lines.unpersist()
    summary = _summary(
        found.report, dict(found.dropped), n, {"no_purchases": found.customers - n}, None, None
    )
    summary.update(_line_summary(found, first, last, as_of))
    if not spec.has_money:
        summary["note"] = "no money columns: trained without monetary features"
    summary["engine"] = engine
    return Prepared(X, spec, summary)


def _line_summary(
    found: LinesSummary, first: pd.Timestamp, last: pd.Timestamp, as_of: pd.Timestamp
) -> dict[str, Any]:
    """The keys :func:`training.train._summary` adds from the lines, from Spark's sums."""
    out: dict[str, Any] = {
        "rows_used": found.rows_used,
        "date_range": [first.isoformat(), last.isoformat()],
        "as_of": pd.Timestamp(as_of).isoformat(),
    }
    if found.report.category_missing:
        out["lines_without_category"] = found.report.category_missing
    out["return_lines_kept"] = found.returns
    out["monthly"] = found.monthly
    return out


def collect_features(feats: DataFrame, spec: features.FeatureSpec) -> pd.DataFrame:
    """Features collected to the driver, sorted by customer id as the local engine orders them."""
    table: pa.Table = feats.toArrow()
    table = table.take(pc.sort_indices(table, [("customer_id", "ascending")]))
    frame = pd.DataFrame({n: table[n].to_numpy() for n in spec.names})
    frame.index = pd.Index(table["customer_id"].to_pandas(), name="customer_id")
    return frame
