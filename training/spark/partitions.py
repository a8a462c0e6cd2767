"""What runs inside Spark's Python workers: the shared rules and features on Arrow batches.

Stage 1 (:func:`canonical_batches`) maps raw rows to canonical lines with
:func:`training.loading.canonical_lines`, row by row, dropping bad rows, rows after
``until`` and rows without a customer id (counted in one report row per batch). After the
shuffle by customer a partition holds every line of its customers:
:func:`partition_lines` rebuilds the local engine's DataFrame of them and
:func:`training.frames.clean` and :func:`training.frames.compute_features` run on it as
they run on a whole file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shopper_segments.core.features import FeatureSpec
from shopper_segments.training import frames
from shopper_segments.training.activity import monthly_activity
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.loading import LoadReport, canonical_lines

#: The column of stage 1's output holding a batch's report (null on line rows).
REPORT = "_report"
#: The column holding each raw row's file name (for bad-row examples).
FILE = "_file"
SUMMARY_SCHEMA = pa.schema([("summary", pa.string())])


def canonical_schema(dataset: DatasetSpec, with_category: bool) -> pa.Schema:
    """The columns of stage 1's output for ``dataset`` (timestamps as int64 nanoseconds, UTC)."""
    cm = dataset.columns
    fields = [pa.field("customer_id", pa.string()), pa.field("timestamp", pa.int64())]
    if cm.order_id:
        fields.append(pa.field("order_id", pa.string()))
    if cm.amount is not None or cm.quantity is not None:
        fields += [pa.field("amount", pa.float64()), pa.field("drop", pa.int8())]
    if cm.product_id:
        fields.append(pa.field("product_id", pa.string()))
    if with_category:
        fields.append(pa.field("category", pa.string()))
    return pa.schema([*fields, pa.field(REPORT, pa.string())])


def canonical_batches(
    batches: Iterable[pa.RecordBatch],
    dataset: DatasetSpec,
    schema: pa.Schema,
    categories: pd.Series | None,
    until: pd.Timestamp | None,
) -> Iterator[pa.RecordBatch]:
    """Stage 1: raw rows to canonical lines with an id, plus one report row per batch."""
    for batch in batches:
        if not batch.num_rows:
            continue
        raw = batch.to_pandas()
        report = LoadReport(rows_read=len(raw))
        out, bad = canonical_lines(raw, dataset, _file_names(raw), report, categories)
        counts = {"n_with_id": int(out["customer_id"].notna().sum()), "n_bad": int(bad.sum())}
        out = out[~bad.to_numpy()]
        if until is not None:  # as training's prepare: before cleaning, rows without an id too
            late = (out["timestamp"] >= until).fillna(False).to_numpy(bool)
            counts["until"] = int(late.sum())
            out = out[~late]
        missing = out["customer_id"].isna().to_numpy()
        counts["missing_customer_id"] = int(missing.sum())
        out = out[~missing]
        columns = {}
        for f in schema:
            if f.name == REPORT:
                columns[f.name] = pa.nulls(len(out), pa.string())
            elif f.name == "timestamp":
                columns[f.name] = pa.array(out["timestamp"].to_numpy("datetime64[ns]").view(np.int64))
            else:
                columns[f.name] = pa.array(out[f.name], type=f.type, from_pandas=True)
        yield pa.RecordBatch.from_pydict(columns, schema=schema)
        summary = {**vars(report), **counts}
        row = {f.name: pa.nulls(1, f.type) for f in schema}
        row[REPORT] = pa.array([json.dumps(summary)])
        yield pa.RecordBatch.from_pydict(row, schema=schema)


def _file_names(raw: pd.DataFrame) -> pd.Series:
    """``in <file name>`` for each row (Spark knows no line numbers), removing the file column."""
    if FILE not in raw:
        return pd.Series("in the input", index=raw.index)
    codes, paths = pd.factorize(raw.pop(FILE))
    names = np.array([f"in {str(p).rsplit('/', 1)[-1]}" for p in paths] + ["in the input"], dtype=object)
    return pd.Series(names[codes], index=raw.index)


def partition_lines(batches: Iterable[pa.RecordBatch]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The canonical lines of a partition as the local engine loads them, and its report rows."""
    batches = [b for b in batches if b.num_rows]
    if not batches:
        return pd.DataFrame(), []
    table = pa.Table.from_batches(batches)
    reports: list[dict[str, Any]] = []
    if REPORT in table.column_names:
        is_report = table[REPORT].is_valid()
        reports = [json.loads(s) for s in table.filter(is_report)[REPORT].to_pylist()]
        table = table.filter(pc.invert(is_report)).drop_columns([REPORT])
    return lines_frame(table), reports


def lines_frame(table: pa.Table) -> pd.DataFrame:
    """Canonical lines of an Arrow table as a DataFrame of the types loading gives.

    ``timestamp`` may be int64 nanoseconds (stage 1) or an Arrow timestamp (users' tables).
    """
    out = pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    for name in table.column_names:
        column = table[name]
        if name == "timestamp":
            if pa.types.is_timestamp(column.type):
                values = column.cast(pa.timestamp("ns", tz="UTC")).to_numpy()
                out[name] = pd.to_datetime(values.view(np.int64), utc=True)
            else:
                out[name] = pd.to_datetime(column.to_numpy(), unit="ns", utc=True)
        elif name == "amount":
            out[name] = column.to_numpy().astype(np.float64)
        elif name == "drop":
            out[name] = column.to_numpy().astype(np.int8)
        else:
            out[name] = column.to_pandas().astype("string")
    out["timestamp"] = out["timestamp"].astype("datetime64[ns, UTC]")
    return out


def summary_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Pass A: one JSON row per partition: its reports and what cleaning found.

    Drop counts, customers, kept lines, first/last kept time, spend per category (the
    weights of :func:`training.frames.top_categories`), return lines and monthly activity.
    """
    lines, reports = partition_lines(batches)
    out: dict[str, Any] = {"reports": reports}
    if not lines.empty:
        cleaned = frames.clean(lines)
        kept = cleaned.lines
        out["dropped"] = {k: v for k, v in cleaned.dropped.items() if k != "missing_customer_id"}
        out["customers"] = len(cleaned.customer_ids)
        out["rows_used"] = len(kept)
        if len(kept):
            ts = kept["timestamp"]
            out["time_range"] = [int(ts.min().value), int(ts.max().value)]
            if "category" in kept:
                weight = kept["amount"].clip(lower=0.0) if "amount" in kept else pd.Series(1.0, kept.index)
                spend = weight.groupby(kept["category"].fillna("\0").to_numpy()).sum()
                out["spend"] = {str(k): float(v) for k, v in spend.items() if k != "\0"}
            out["returns"] = int((kept["amount"] < 0).sum()) if "amount" in kept else 0
            out["monthly"] = monthly_activity(kept)
    yield pa.RecordBatch.from_pydict({"summary": [json.dumps(out)]}, schema=SUMMARY_SCHEMA)


def feature_schema(spec: FeatureSpec) -> pa.Schema:
    """``customer_id`` and the features of ``spec`` (original units)."""
    return pa.schema([("customer_id", pa.string()), *[(n, pa.float64()) for n in spec.names]])


def feature_batches(
    batches: Iterable[pa.RecordBatch], spec: FeatureSpec, as_of: pd.Timestamp
) -> Iterator[pa.RecordBatch]:
    """Pass B: the features of every customer of a partition with a purchase line."""
    lines, _ = partition_lines(batches)
    if lines.empty:
        return
    cleaned = frames.clean(lines)
    if cleaned.lines.empty:
        return
    X = frames.compute_features(cleaned.lines, spec, as_of)
    yield features_batch(X, spec)


def features_batch(X: pd.DataFrame, spec: FeatureSpec) -> pa.RecordBatch:
    columns = {"customer_id": pa.array(X.index.astype(str).to_numpy(), pa.string())}
    columns.update({n: pa.array(X[n].to_numpy(np.float64)) for n in spec.names})
    return pa.RecordBatch.from_pydict(columns, schema=feature_schema(spec))
