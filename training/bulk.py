"""Bulk scoring: ``python -m training assign`` over transaction files of any size.

Pass 1 (:mod:`training.shards`) streams the file into shard files by customer-id hash;
pass 2 cleans and featurizes one shard at a time with the one feature definition
(:func:`training.frames.clean_lines`, :func:`training.frames.compute_features`),
assigns with the model's :meth:`SegmentModel.assign` (the service's method) and appends
one row per customer to the output. Memory is bounded by one read block plus one shard.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from shopper_segments.core import rfm
from shopper_segments.core.artifact import load_model
from shopper_segments.core.errors import DataError
from shopper_segments.core.results import csv_safe, format_dropped, result_columns, typed
from shopper_segments.core.signing import load_public_keys
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.frames import clean, compute_features
from shopper_segments.training.inputs import input_files
from shopper_segments.training.shards import BLOCK_BYTES, default_shards, file_kind, partition, read_shard

MAX_EXAMPLES = 5


@dataclass
class BulkReport:
    """Counts of a bulk run, printed by the CLI."""

    model_version: str = ""
    as_of: str = ""
    rows_read: int = 0
    rows_dropped: dict[str, int] = field(default_factory=dict)
    bad_row_examples: list[str] = field(default_factory=list)
    customers: int = 0
    no_purchases: int = 0
    no_purchases_examples: list[str] = field(default_factory=list)
    segment_counts: dict[str, int] = field(default_factory=dict)
    shards: int = 0
    seconds: float = 0.0


#: What an output file's name may end with: CSV, or Parquet.
OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq")


class _Output:
    """Appends result frames to a CSV or Parquet file (chosen by extension)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parquet = path.name.lower().endswith((".parquet", ".pq"))
        self._writer: pq.ParquetWriter | None = None
        self._handle = None if self.parquet else path.open("w", encoding="utf-8", newline="")
        self._header = True

    def write(self, frame: pd.DataFrame) -> None:
        if self._handle is not None:
            csv_safe(frame).to_csv(self._handle, header=self._header, index=False)
            self._header = False
            return
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        if self._writer is not None:
            self._writer.close()


def result_frame(
    X: pd.DataFrame,
    model_assign: Any,
    segment_ids: list[int],
    segment_names: list[str],
    dropped: pd.DataFrame | None = None,
    rfm_section: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One output row per customer in the columns of :func:`segments_core.results.result_columns`.

    ``dropped``: lines dropped per customer and rule (from :func:`training.frames.clean`);
    ``rfm_section``: the model's ``rfm`` metadata (the rfm columns are null without it).
    """
    values = X.to_numpy(np.float64)
    result = model_assign(values)
    ids, names = np.asarray(segment_ids), np.asarray(segment_names, dtype=object)
    best, nxt = result.segment_index, result.next_index
    single = best == nxt
    out = pd.DataFrame(
        {
            "customer_id": X.index.to_numpy(),
            "status": "assigned",
            "segment_id": ids[best],
            "segment_name": names[best],
            "distance": result.distance,
            "next_segment_id": np.where(single, 0, ids[nxt]),
            "next_segment_name": np.where(single, None, names[nxt]),
            "next_distance": np.where(single, np.nan, result.next_distance),
        }
    )
    out["next_segment_id"] = out["next_segment_id"].astype("Int64")
    out.loc[single, "next_segment_id"] = pd.NA
    for name in X.columns:
        out[name] = X[name].to_numpy()
    for column, scored in rfm.columns(values, list(X.columns), rfm_section).items():
        out[column] = scored
    out["lines_dropped"] = _dropped_cells(out["customer_id"], dropped)
    out["errors"] = ""
    return typed(out[result_columns(list(X.columns))], list(X.columns))


def no_purchase_frame(ids: pd.Index, feature_names: list[str], dropped: pd.DataFrame | None) -> pd.DataFrame:
    """Rows for customers left without a purchase line (status ``no_purchases``, no segment)."""
    out = pd.DataFrame({c: pd.Series([None] * len(ids), dtype=object) for c in result_columns(feature_names)})
    out["customer_id"] = ids.to_numpy()
    out["status"] = "no_purchases"
    out["lines_dropped"] = _dropped_cells(out["customer_id"], dropped)
    out["errors"] = ""
    return typed(out, feature_names)


def _dropped_cells(customer_ids: pd.Series, dropped: pd.DataFrame | None) -> list[str]:
    if dropped is None or dropped.empty:
        return [""] * len(customer_ids)
    rows = dropped.reindex(customer_ids.to_numpy()).fillna(0).astype(int)
    columns = list(rows.columns)
    return [format_dropped(dict(zip(columns, r, strict=True))) for r in rows.itertuples(index=False)]


def score_file(
    model_dir: Path,
    input_path: Path,
    output_path: Path,
    dataset: DatasetSpec,
    as_of: pd.Timestamp | None = None,
    shards: int | None = None,
    tmp_dir: Path | None = None,
    progress: bool | None = None,
    block_bytes: int = BLOCK_BYTES,
    public_key: Path | None = None,
) -> BulkReport:
    """Assign every customer of a transaction file; write one row per customer.

    Parameters
    ----------
    model_dir : Path
        A model version directory or a name directory with ``LATEST``.
    input_path, output_path : Path
        CSV/.csv.gz/Parquet in (a file, a directory or a glob of them); CSV or Parquet (by
        extension) out.
    dataset : DatasetSpec
        Column mapping, as for ``fit``.
    as_of : Timestamp, optional
        Reference time; default the model's training as_of.
    shards : int, optional
        Number of shard files; default from the input size.
    progress : bool, optional
        Show progress bars; default only on a terminal.
    block_bytes : int
        Bytes read per chunk in pass 1.
    public_key : Path, optional
        PEM Ed25519 public key(s): the model loads only if one of them signed it.
    """
    started = time.perf_counter()
    if not output_path.name.lower().endswith(OUTPUT_SUFFIXES):
        raise DataError(f"output {output_path}: name a .csv or .parquet file (the format goes by the name)")
    keys = load_public_keys(public_key) if public_key is not None else None
    meta, _pipeline, model = load_model(model_dir, keys)
    if model.spec.is_table:
        raise DataError("this model is trained on a customer table; bulk scoring takes transaction files")
    if as_of is None:
        if "as_of" not in meta.get("data", {}):
            raise DataError("the model records no training as_of; pass --as-of")
        as_of = pd.Timestamp(meta["data"]["as_of"])
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    order = sorted(meta["segments"], key=lambda s: s["label"])
    seg_ids, seg_names = [int(s["id"]) for s in order], [str(s["name"]) for s in order]
    files = input_files(input_path)  # a file, or a directory's or glob's files
    n_shards = shards or default_shards(files)
    report = BulkReport(model_version=meta["version"], as_of=as_of.isoformat(), shards=n_shards)
    counts: dict[int, int] = {}
    disable = None if progress is None else not progress
    output = None
    with tempfile.TemporaryDirectory(prefix="bulk-shards-", dir=tmp_dir) as tmp:
        kind = file_kind(files[0])
        if kind == "parquet":
            total, unit = sum(pq.ParquetFile(f).metadata.num_rows for f in files), "rows"
        else:
            total, unit = sum(f.stat().st_size for f in files), "B"
        with tqdm(total=total, unit=unit, unit_scale=True, desc="pass 1: shard", disable=disable) as bar:
            shard_files, part = partition(
                input_path, dataset, as_of, Path(tmp), n_shards, bar.update, block_bytes
            )
        report.rows_read = part.load.rows_read
        report.rows_dropped = {f"bad: {k}": v for k, v in part.load.bad_rows.items()}
        report.rows_dropped["missing_customer_id"] = part.missing_customer_id
        report.bad_row_examples = part.load.bad_examples
        output = _Output(output_path)
        try:
            for shard in tqdm(shard_files, desc="pass 2: score", unit="shard", disable=disable):
                cleaned = clean(read_shard(shard))
                shard.unlink()
                for reason, n in cleaned.dropped.items():
                    if reason != "missing_customer_id":
                        report.rows_dropped[reason] = report.rows_dropped.get(reason, 0) + n
                X = compute_features(cleaned.lines, model.spec, as_of)
                left = cleaned.customer_ids.difference(X.index).sort_values()
                _note_no_purchases(report, left)
                if len(left):
                    output.write(no_purchase_frame(left, model.spec.names, cleaned.by_customer))
                if X.empty:
                    continue
                frame = result_frame(
                    X, model.assign, seg_ids, seg_names, cleaned.by_customer, meta.get("rfm")
                )
                output.write(frame)
                report.customers += len(frame)
                for seg, n in frame["segment_id"].value_counts().items():
                    counts[int(seg)] = counts.get(int(seg), 0) + int(n)
        finally:
            output.close()
    if report.customers == 0 and report.no_purchases == 0:
        raise DataError(f"{input_path}: no customer to score")
    report.segment_counts = {f"{i} {n}": counts.get(i, 0) for i, n in zip(seg_ids, seg_names, strict=True)}
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def _note_no_purchases(report: BulkReport, left: pd.Index) -> None:
    report.no_purchases += len(left)
    room = MAX_EXAMPLES - len(report.no_purchases_examples)
    report.no_purchases_examples += [str(c) for c in left[: max(room, 0)]]


def format_report(report: BulkReport, output: Path) -> str:
    """Human-readable summary of a bulk run."""
    out = [
        f"model {report.model_version}, as_of {report.as_of}",
        f"rows read: {report.rows_read:,} in {report.shards} shards, {report.seconds:.1f} s",
    ]
    out += [f"  dropped {n:>10,}  {reason}" for reason, n in report.rows_dropped.items() if n]
    out += [f"    {example}" for example in report.bad_row_examples[:MAX_EXAMPLES]]
    out.append(f"customers scored: {report.customers:,} -> {output}")
    if report.no_purchases:
        shown = ", ".join(report.no_purchases_examples)
        out.append(
            f"customers without a purchase line (listed with status no_purchases, no segment): "
            f"{report.no_purchases:,} ({shown})"
        )
    out += [f"  segment {name}: {n:,}" for name, n in report.segment_counts.items()]
    return "\n".join(out)
