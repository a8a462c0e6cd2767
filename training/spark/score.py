"""Bulk scoring on Spark (``segments assign --engine spark``) and :func:`assign_udf` for users' pipelines.

Both run :class:`ArrowAssigner` in the partitions: the local engine's cleaning, features and
:meth:`SegmentModel.assign` (the service's method) on every customer's lines, giving the
rows of :func:`training.bulk.result_frame` (one per customer, ``no_purchases`` included).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from shopper_segments.core.artifact import load_model
from shopper_segments.core.errors import DataError, OutputError
from shopper_segments.core.model import SegmentModel
from shopper_segments.core.signing import load_public_keys
from shopper_segments.training import frames
from shopper_segments.training.bulk import MAX_EXAMPLES, BulkReport, no_purchase_frame, result_frame
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.spark.lines import canonical_lines, is_remote
from shopper_segments.training.spark.partitions import partition_lines
from shopper_segments.training.spark.session import SparkOptions, get_session

if TYPE_CHECKING:
    from pyspark.sql.types import StructType


class ArrowAssigner:
    """A model's assignment of canonical lines in Arrow: what Spark runs in its Python workers.

    Input: canonical lines (``customer_id``, ``timestamp`` (a timestamp, or int64 ns UTC),
    ``order_id``, ``amount``, ``category``...) holding every line of their customers.
    Output: one row per customer in the columns of :attr:`arrow_schema`.
    """

    def __init__(
        self, model: SegmentModel, metadata: dict[str, Any], as_of: pd.Timestamp | None = None
    ) -> None:
        if model.spec.is_table:
            raise DataError("this model is trained on a customer table; bulk scoring takes transaction lines")
        if as_of is None:
            if "as_of" not in metadata.get("data", {}):
                raise DataError("the model records no training as_of; pass --as-of")
            as_of = pd.Timestamp(metadata["data"]["as_of"])
        self.as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
        self.model = model
        order = sorted(metadata["segments"], key=lambda s: s["label"])
        self.segment_ids = [int(s["id"]) for s in order]
        self.segment_names = [str(s["name"]) for s in order]
        self.version = str(metadata["version"])
        self.rfm = metadata.get("rfm")  # the edges of the RFM scores (None: rfm columns null)
        self.arrow_schema = _result_schema(list(model.spec.names))

    @property
    def schema(self) -> StructType:
        """The output schema as Spark's ``StructType`` (for ``mapInArrow`` / ``applyInArrow``)."""
        from pyspark.sql.pandas.types import from_arrow_schema

        return from_arrow_schema(self.arrow_schema)

    @property
    def assign_table(self) -> Callable[[pa.Table], pa.Table]:
        """A function assigning the customers of a table (for ``groupBy("customer_id").applyInArrow``)."""

        def assign(table: pa.Table) -> pa.Table:
            return pa.Table.from_batches(list(self.batches(table.to_batches())), schema=self.arrow_schema)

        return assign

    def batches(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Assign a partition's customers (for ``mapInArrow`` on lines partitioned by customer)."""
        lines, _ = partition_lines(batches)
        if lines.empty:
            return
        cleaned = frames.clean(lines)
        X = frames.compute_features(cleaned.lines, self.model.spec, self.as_of)
        names = list(self.model.spec.names)
        left = cleaned.customer_ids.difference(X.index).sort_values()
        if len(left):
            yield from self._batches(no_purchase_frame(left, names, cleaned.by_customer))
        if not X.empty:
            frame = result_frame(
                X, self.model.assign, self.segment_ids, self.segment_names, cleaned.by_customer, self.rfm
            )
            yield from self._batches(frame)

    def _batches(self, frame: pd.DataFrame) -> Iterator[pa.RecordBatch]:
        yield from pa.Table.from_pandas(frame, schema=self.arrow_schema, preserve_index=False).to_batches()


def _result_schema(feature_names: list[str]) -> pa.Schema:
    """The Arrow types of the bulk result columns (text where the example row holds only nulls)."""
    example = no_purchase_frame(pd.Index(["x"]), feature_names, None)
    schema = pa.Schema.from_pandas(example, preserve_index=False)
    text = (pa.types.is_null, pa.types.is_large_string)  # Spark's strings are Arrow's string
    return pa.schema(
        [pa.field(f.name, pa.string() if any(t(f.type) for t in text) else f.type) for f in schema]
    )


def assign_udf(
    model_dir: Path | str, as_of: pd.Timestamp | str | None = None, public_key: Path | None = None
) -> ArrowAssigner:
    """A model as a function for users' Spark pipelines (as MLflow's ``spark_udf``).

    Parameters
    ----------
    model_dir : Path
        A model version directory, or a name directory with ``LATEST``.
    as_of : Timestamp or str, optional
        Reference time of the features; default the model's training as_of.
    public_key : Path, optional
        Load the model only if this Ed25519 key (PEM) signed it.

    Returns
    -------
    ArrowAssigner
        ``df.groupBy("customer_id").applyInArrow(f.assign_table, f.schema)``, or on lines partitioned by
        customer ``df.repartition("customer_id").mapInArrow(f.batches, f.schema)`` (faster:
        one call per partition, not per customer). ``df`` holds canonical lines.
    """
    keys = load_public_keys(public_key) if public_key is not None else None
    meta, _pipeline, model = load_model(Path(model_dir), keys)
    return ArrowAssigner(model, meta, pd.Timestamp(as_of) if as_of is not None else None)


def score(
    model_dir: Path,
    input_path: Path,
    output_path: Path,
    dataset: DatasetSpec,
    as_of: pd.Timestamp | None = None,
    options: SparkOptions | None = None,
    public_key: Path | None = None,
) -> BulkReport:
    """Assign every customer of the input on Spark; write the results as a Parquet directory.

    The input is read as ``segments fit`` reads it (``dataset``: the column map); the
    output has the columns of ``segments assign`` (one row per customer).

    Raises
    ------
    OutputError
        When ``output_path`` exists.
    DataError
        As the local ``assign``: bad rows over the limit, no customer to score.
    """
    started = time.perf_counter()
    options = options or SparkOptions()
    assigner = assign_udf(model_dir, as_of, public_key)
    if not is_remote(output_path) and output_path.exists():
        raise OutputError(f"--output {output_path} exists; Spark writes a new directory of Parquet files")
    spark = get_session(options)
    lines, found = canonical_lines(spark, input_path, dataset, options)
    try:
        results = lines.mapInArrow(assigner.batches, assigner.schema)
        results.write.parquet(str(output_path))
    finally:
        lines.unpersist()
    written = spark.read.parquet(str(output_path))
    counts = written.groupBy("status", "segment_id").count().collect()
    report = BulkReport(
        model_version=assigner.version,
        as_of=assigner.as_of.isoformat(),
        rows_read=found.report.rows_read,
        rows_dropped={**{f"bad: {k}": v for k, v in found.report.bad_rows.items()}, **found.dropped},
        bad_row_examples=found.report.bad_examples,
        shards=lines.rdd.getNumPartitions(),
    )
    by_id = {int(r["segment_id"]): int(r["count"]) for r in counts if r["status"] == "assigned"}
    report.customers = sum(by_id.values())
    report.no_purchases = sum(int(r["count"]) for r in counts if r["status"] == "no_purchases")
    if report.no_purchases:
        left = written.filter("status = 'no_purchases'").select("customer_id").limit(MAX_EXAMPLES).collect()
        report.no_purchases_examples = [str(r["customer_id"]) for r in left]
    if report.customers == 0 and report.no_purchases == 0:
        raise DataError(f"{input_path}: no customer to score")
    pairs = zip(assigner.segment_ids, assigner.segment_names, strict=True)
    report.segment_counts = {f"{i} {n}": by_id.get(i, 0) for i, n in pairs}
    report.seconds = round(time.perf_counter() - started, 1)
    return report
