"""Pass 1 of bulk scoring: stream a transaction file into per-customer-hash shard files.

A customer's lines may be anywhere in the file, so lines are partitioned by a hash of
the customer id into Arrow IPC shard files: every line of a customer lands in the same
shard, and each shard is small enough to clean and featurize in memory. Memory is bounded
by the read block size plus one shard, never by the file size.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from shopper_segments.core.errors import DataError
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.inputs import input_files
from shopper_segments.training.io import read_header
from shopper_segments.training.loading import (
    LoadReport,
    canonical_lines,
    category_lookup,
    check_bad_fraction,
    check_money_columns,
)

#: Target size of a shard in input bytes (uncompressed CSV); bounds pass-2 memory.
SHARD_BYTES = 16 << 20
#: How much larger than the file its content is, per format (estimate for shard counts).
EXPANSION = {"csv": 1, "gz": 6, "parquet": 8}
BLOCK_BYTES = 16 << 20
READ_BLOCK_BYTES = 1 << 20
MAX_LATE_EXAMPLES = 5


def file_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "gz" if name.endswith(".gz") else "csv"


def default_shards(files: list[Path]) -> int:
    """Enough shards that each holds about :data:`SHARD_BYTES` of the input ``files``."""
    size = sum(f.stat().st_size * EXPANSION[file_kind(f)] for f in files)
    return int(min(max(1, -(-size // SHARD_BYTES)), 1000))


@dataclass
class PartitionReport:
    """What pass 1 read: the load report plus rows left out before cleaning."""

    load: LoadReport = field(default_factory=LoadReport)
    missing_customer_id: int = 0
    bad: int = 0
    with_id: int = 0
    lines: int = 0


def _raw_chunks(
    path: Path, columns: list[str], block_bytes: int, advance: Callable[[int], None]
) -> Iterator[tuple[pd.DataFrame, int]]:
    """(text columns of a chunk, first line number) for each chunk of the file."""
    kind = file_kind(path)
    if kind == "parquet":
        pf = pq.ParquetFile(path)
        row = 0
        for batch in pf.iter_batches(batch_size=max(block_bytes // 64, 1024), columns=columns):
            yield batch.to_pandas(), row
            row += batch.num_rows
            advance(batch.num_rows)
        return
    convert = pacsv.ConvertOptions(
        include_columns=columns,
        column_types={c: pa.string() for c in columns},
        strings_can_be_null=True,
        null_values=[""],
    )
    with path.open("rb") as handle:
        stream: Any = gzip.GzipFile(fileobj=handle) if kind == "gz" else handle
        try:
            # Small read blocks: the streaming reader reads ahead a number of blocks, so
            # the block size bounds its buffers; blocks are then gathered into chunks.
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    block_size=min(READ_BLOCK_BYTES, block_bytes), use_threads=False
                ),
                convert_options=convert,
            )
            line, seen = 2, 0
            pending: list[pa.RecordBatch] = []
            for batch in reader:
                pending.append(batch)
                if sum(b.nbytes for b in pending) >= block_bytes:
                    table = pa.Table.from_batches(pending)
                    pending = []
                    yield table.to_pandas(), line
                    line += table.num_rows
                    pos = handle.tell()
                    advance(pos - seen)
                    seen = pos
            if pending:
                yield pa.Table.from_batches(pending).to_pandas(), line
                advance(handle.tell() - seen)
        except (pa.ArrowException, OSError, EOFError) as exc:
            raise DataError(f"{path}: cannot be read: {exc}") from exc


def partition(
    path: Path,
    spec: DatasetSpec,
    as_of: pd.Timestamp,
    shard_dir: Path,
    n_shards: int,
    advance: Callable[[int], None] = lambda n: None,
    block_bytes: int = BLOCK_BYTES,
) -> tuple[list[Path], PartitionReport]:
    """Write the canonical lines of ``path`` into ``n_shards`` files by customer-id hash.

    ``path`` is a file, a directory or a glob (:func:`training.inputs.input_files`); with
    several files, lines are named ``file:line``. Rows without a customer id are counted and
    left out (as cleaning does); rows with a field that does not parse are counted with line
    numbers and left out, and the run fails past ``spec.max_bad_fraction``, as in training.
    A line after ``as_of`` fails the run: its features would be undefined.

    Returns
    -------
    shards : list of Path
        The shard files that received lines.
    report : PartitionReport
    """
    check_money_columns(spec.columns)
    columns = spec.columns.source_columns()
    files = input_files(path)
    for file in files:
        header = read_header(file)
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataError(f"{file}: column(s) {missing} not found; the file has {header}")
    categories = category_lookup(spec, files[0].parent)
    report = PartitionReport()
    late: list[str] = []
    writers: dict[int, tuple[pa.NativeFile, ipc.RecordBatchStreamWriter]] = {}
    schema: pa.Schema | None = None
    try:
        for file, raw, first_line in _chunks_of(files, columns, block_bytes, advance):
            numbers = np.arange(len(raw)) + first_line
            named = numbers if len(files) == 1 else [f"{file.name}:{n}" for n in numbers.tolist()]
            line_no = pd.Series(named, index=raw.index)
            lines, bad = canonical_lines(raw, spec, line_no, report.load, categories)
            report.load.rows_read += len(raw)
            has_id = lines["customer_id"].notna()
            report.missing_customer_id += int((~has_id).sum())
            report.with_id += int(has_id.sum())
            report.bad += int(bad.sum())
            keep = has_id & ~bad
            after = keep & (lines["timestamp"] > as_of)
            late += [f"line {n}" for n in line_no[after].head(MAX_LATE_EXAMPLES - len(late))]
            if after.any():
                raise DataError(
                    f"{path}: {', '.join(late)}: timestamp is after as_of {as_of.isoformat()}; "
                    "pass a later --as-of"
                )
            lines = lines[keep]
            report.lines += len(lines)
            table = pa.Table.from_pandas(lines, preserve_index=False, schema=schema)
            schema = table.schema
            _write_shards(table, lines["customer_id"], n_shards, shard_dir, writers)
    finally:
        for sink, writer in writers.values():
            writer.close()
            sink.close()
    check_bad_fraction(path, spec, report.load, report.with_id, report.bad)
    return [shard_dir / f"shard-{i:05d}.arrow" for i in sorted(writers)], report


def _chunks_of(
    files: list[Path], columns: list[str], block_bytes: int, advance: Callable[[int], None]
) -> Iterator[tuple[Path, pd.DataFrame, int]]:
    """(file, text columns of a chunk, its first line number) for each chunk of each file in turn."""
    for file in files:
        for raw, first_line in _raw_chunks(file, columns, block_bytes, advance):
            yield file, raw, first_line


def _write_shards(
    table: pa.Table,
    customer_ids: pd.Series,
    n_shards: int,
    shard_dir: Path,
    writers: dict[int, tuple[pa.NativeFile, ipc.RecordBatchStreamWriter]],
) -> None:
    codes = (pd.util.hash_array(customer_ids.to_numpy(dtype=object)) % np.uint64(n_shards)).astype(np.int64)
    order = np.argsort(codes, kind="stable")
    table = table.take(pa.array(order))
    bounds = np.searchsorted(codes[order], np.arange(n_shards + 1))
    for shard in range(n_shards):
        lo, hi = int(bounds[shard]), int(bounds[shard + 1])
        if lo == hi:
            continue
        if shard not in writers:
            sink = pa.OSFile(str(shard_dir / f"shard-{shard:05d}.arrow"), "wb")
            writers[shard] = (sink, ipc.new_stream(sink, table.schema))
        writers[shard][1].write_table(table.slice(lo, hi - lo))


def read_shard(path: Path) -> pd.DataFrame:
    """Canonical lines of one shard, with the dtypes the service builds its lines with."""
    with pa.OSFile(str(path), "rb") as source:
        frame = ipc.open_stream(source).read_all().to_pandas()
    for col in ("customer_id", "order_id", "category", "product_id"):
        if col in frame:
            frame[col] = frame[col].astype("string")
    return frame
