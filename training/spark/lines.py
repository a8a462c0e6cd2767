"""Reading an input into Spark and the canonical lines, shuffled by customer, with their counts.

Only the global steps are Spark's: reading, the shuffle by customer and the sums of what
each partition found (:class:`LinesSummary`); the rules run in :mod:`.partitions`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from shopper_segments.core.errors import DataError
from shopper_segments.core.rules import DROP_CODES
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.inputs import input_files
from shopper_segments.training.loading import (
    MAX_REPORTED_BAD_ROWS,
    LoadReport,
    category_lookup,
    check_bad_fraction,
    check_money_columns,
)
from shopper_segments.training.spark import partitions
from shopper_segments.training.spark.session import SparkOptions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Bytes of input per shuffle partition (by kind), for ``SparkOptions.lines_per_partition`` lines.
BYTES_PER_LINE = {"parquet": 12, "csv": 80}


@dataclass
class LinesSummary:
    """What reading and cleaning found, summed over the partitions."""

    report: LoadReport
    n_with_id: int = 0
    n_bad: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    customers: int = 0
    rows_used: int = 0
    time_range: tuple[int, int] | None = None
    spend: dict[str, float] = field(default_factory=dict)
    returns: int = 0
    monthly: list[dict[str, Any]] = field(default_factory=list)


def is_remote(path: Path | str) -> bool:
    """A URI Spark reads itself (``s3a://``, ``hdfs://``, ``abfss://``...), not a local path."""
    return "://" in str(path)


def read_raw(spark: SparkSession, path: Path | str, dataset: DatasetSpec) -> tuple[DataFrame, str, int]:
    """The input's rows (the dataset's source columns and the file name), its kind and bytes.

    CSV columns are text, as the local engine reads them (empty cells null).

    Raises
    ------
    DataError
        When nothing matches, a column is missing or the files cannot be read.
    """
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    if is_remote(path):
        paths, size = [str(path)], 0
        kind = "parquet" if str(path).lower().rstrip("/").endswith((".parquet", ".pq")) else "csv"
    else:
        files = input_files(Path(path))
        if not files[0].is_file():
            raise DataError(f"input file {path} does not exist")
        paths, size = [str(f.resolve()) for f in files], sum(f.stat().st_size for f in files)
        kind = "parquet" if files[0].name.lower().endswith((".parquet", ".pq")) else "csv"
    columns = dataset.columns.source_columns()
    try:
        if kind == "parquet":
            raw = spark.read.parquet(*paths)
        else:
            reader = spark.read.option("header", True).option("escape", '"').option("encoding", "UTF-8")
            raw = reader.option("inferSchema", False).csv(paths)
            raw = raw.toDF(*[c.lstrip("\ufeff") for c in raw.columns])  # a UTF-8 byte order mark
    except PySparkException as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from exc
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: column(s) {missing} not found; the file has {raw.columns}")
    selected = raw.select(
        *[F.col(f"`{c}`") for c in columns], F.col("_metadata.file_name").alias(partitions.FILE)
    )
    return selected, kind, size


def canonical_lines(
    spark: SparkSession,
    path: Path | str,
    dataset: DatasetSpec,
    options: SparkOptions,
    until: pd.Timestamp | None = None,
) -> tuple[DataFrame, LinesSummary]:
    """Stage 1, the shuffle by customer (persisted on disk) and pass A's summary.

    Returns
    -------
    lines : DataFrame
        Canonical lines with a customer id, every customer's lines in one partition
        (and report rows: see :func:`.partitions.partition_lines`). Persisted; the caller
        ``unpersist()``s it.
    summary : LinesSummary
    """
    from pyspark import StorageLevel
    from pyspark.sql.pandas.types import from_arrow_schema

    check_money_columns(dataset.columns)
    raw, kind, size = read_raw(spark, path, dataset)
    base = Path(path).parent if is_remote(path) else input_files(Path(path))[0].parent
    categories = category_lookup(dataset, base)
    schema = partitions.canonical_schema(dataset, bool(dataset.columns.category) or categories is not None)
    stage1 = partial(
        partitions.canonical_batches, dataset=dataset, schema=schema, categories=categories, until=until
    )
    n_parts = shuffle_partitions(spark, kind, size, options)
    lines = raw.mapInArrow(stage1, from_arrow_schema(schema)).repartition(n_parts, "customer_id")
    lines = lines.persist(StorageLevel.DISK_ONLY)
    rows = lines.mapInArrow(partitions.summary_batches, "summary string").collect()
    summary = merge_summaries([json.loads(r["summary"]) for r in rows], until)
    check_bad_fraction(Path(str(path)), dataset, summary.report, summary.n_with_id, summary.n_bad)
    return lines, summary


def shuffle_partitions(spark: SparkSession, kind: str, size: int, options: SparkOptions) -> int:
    """Partitions of about ``options.lines_per_partition`` lines (at least the default parallelism)."""
    parallelism = spark.sparkContext.defaultParallelism
    if not size:
        return max(parallelism, int(spark.conf.get("spark.sql.shuffle.partitions") or 200))
    per_part = options.lines_per_partition * BYTES_PER_LINE[kind]
    return max(parallelism, math.ceil(size / per_part))


def merge_summaries(parts: list[dict[str, Any]], until: pd.Timestamp | None) -> LinesSummary:
    """Sum the partitions' summaries (and their stage 1 reports) into one."""
    report = LoadReport()
    out = LinesSummary(report)
    missing = late = 0
    dropped = {rule: 0 for rule in DROP_CODES if rule != "missing_customer_id"}
    months: dict[str, dict[str, Any]] = {}
    for part in parts:
        for r in part["reports"]:
            report.rows_read += r["rows_read"]
            report.category_missing += r["category_missing"]
            for reason, n in r["bad_rows"].items():
                report.bad_rows[reason] = report.bad_rows.get(reason, 0) + n
            room = MAX_REPORTED_BAD_ROWS - len(report.bad_examples)
            report.bad_examples += r["bad_examples"][: max(room, 0)]
            out.n_with_id += r["n_with_id"]
            out.n_bad += r["n_bad"]
            missing += r["missing_customer_id"]
            late += r.get("until", 0)
        for rule, n in part.get("dropped", {}).items():
            dropped[rule] = dropped.get(rule, 0) + n
        out.customers += part.get("customers", 0)
        out.rows_used += part.get("rows_used", 0)
        out.returns += part.get("returns", 0)
        if "time_range" in part:
            lo, hi = part["time_range"]
            out.time_range = (
                (lo, hi)
                if out.time_range is None
                else (min(out.time_range[0], lo), max(out.time_range[1], hi))
            )
        for cat, v in part.get("spend", {}).items():
            out.spend[cat] = out.spend.get(cat, 0.0) + v
        for m in part.get("monthly", []):
            acc = months.setdefault(m["month"], dict.fromkeys(m, 0))
            for k, v in m.items():
                if k != "month":
                    acc[k] += v
    out.dropped = {"missing_customer_id": missing, **dropped}
    if until is not None:
        out.dropped[f"at_or_after_until ({until.isoformat()})"] = late
    out.monthly = _months(months)
    return out


def _months(months: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Monthly activity from the first month to the last (months without lines: zeros)."""
    if not months:
        return []
    keys = sorted(months)
    first, last = (int(k[:4]) * 12 + int(k[5:]) - 1 for k in (keys[0], keys[-1]))
    template = {k: 0 for k in months[keys[0]] if k != "month"}
    out = []
    for m in range(first, last + 1):
        name = f"{m // 12:04d}-{m % 12 + 1:02d}"
        entry = {"month": name, **template, **{k: v for k, v in months.get(name, {}).items() if k != "month"}}
        for k in ("revenue", "purchase_revenue"):
            if k in entry:
                entry[k] = round(float(entry[k]), 2)
        out.append(entry)
    return out
