"""Seeded generator of a realistic transaction file for the benchmarks.

Skew as in real shops: most customers buy once (about 60%), a long Pareto tail of
repeat buyers, a handful of very heavy ones (hundreds of orders); orders have a
geometric number of lines, amounts are log-normal, about 2% of lines are returns,
categories and products are Zipf-distributed. Lines come grouped by customer (an export
sorted by customer), or with ``layout="time"`` in time order with order ids numbered in
time order (a transaction log, as shops write it). Columns are the canonical ones
(customer_id, order_id, timestamp, amount, category, product_id) so that
``python -m training fit --input FILE`` reads it without a dataset spec.

Usage: ``python bench/generate.py --lines 10000000 --out bench/out/tx_10m.parquet``; with
``--parts N`` the lines go to N Parquet files in the directory ``--out`` (each part generated on
its own, with its own customers: memory is one part's, for data sets of 100M lines).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

START = np.datetime64("2022-01-01T00:00:00", "s").astype(np.int64)
SPAN_S = 2 * 365 * 86_400
LINES_PER_CUSTOMER = 10.0  # 10M lines -> about 1M customers
CATEGORIES = [
    "apparel", "beauty", "books", "electronics", "garden", "grocery", "home", "kitchen",
    "outdoor", "pets", "sports", "stationery", "toys", "wellness", "jewelry", "music",
]  # fmt: skip


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    text = pc.cast(pa.array(numbers), pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), text, "")


def generate(
    n_lines: int,
    seed: int = 0,
    n_customers: int | None = None,
    layout: str = "customer",
    id_offset: int = 0,
) -> pa.Table:
    """A table of exactly ``n_lines`` canonical transaction lines.

    Parameters
    ----------
    n_lines : int
        Number of lines.
    seed : int
        Seed of the random generator: the same seed gives the same table.
    n_customers : int, optional
        Target number of customers (default ``n_lines / 10``); lines per customer
        then follow the same skewed distribution, rescaled.
    layout : {"customer", "time"}
        Lines grouped by customer, or in time order (the same lines either way).
    id_offset : int
        Added to customer and order numbers (parts of one data set use disjoint ids).
    """
    rng = np.random.default_rng(seed)
    n_cust = n_customers or max(1, int(n_lines / LINES_PER_CUSTOMER))
    # Orders per customer: 1 + floor(Lomax(1.4)); P(1 order) ~ 0.62, heavy tail capped.
    orders = 1 + np.minimum(np.floor(rng.pareto(1.4, n_cust)), 2_000).astype(np.int64)
    # Lines per order: geometric with mean chosen so lines land near n_lines.
    mean_lines = max(n_lines / orders.sum(), 1.0)
    n_orders = int(orders.sum())
    lines_per_order = rng.geometric(1.0 / mean_lines, n_orders).astype(np.int64)
    total = int(lines_per_order.sum())
    if total < n_lines:  # top up the last orders so the count is exact
        lines_per_order[-1] += n_lines - total
    order_of_line = np.repeat(np.arange(n_orders), lines_per_order)[:n_lines]
    cust_of_order = np.repeat(np.arange(n_cust), orders)

    first = rng.integers(0, SPAN_S, n_cust)
    life = (SPAN_S - first) * rng.beta(0.7, 1.2, n_cust)
    order_ts = START + first[cust_of_order] + (rng.random(n_orders) * life[cust_of_order]).astype(np.int64)

    customer_numbers = rng.permutation(n_cust) + 10_000 + id_offset
    cust_line = cust_of_order[order_of_line]
    amount = np.round(np.exp(rng.normal(2.3, 1.1, n_lines)), 2) + 0.01
    returns = rng.random(n_lines) < 0.02
    amount[returns] *= -1.0
    cat_weights = 1.0 / np.arange(1, len(CATEGORIES) + 1) ** 1.1
    category = rng.choice(len(CATEGORIES), n_lines, p=cat_weights / cat_weights.sum())
    product = np.minimum(rng.zipf(1.3, n_lines), 20_000) * 100 + category
    if layout == "time":  # a log: lines in time order, order ids (invoices) numbered as they come
        by_time = np.argsort(order_ts, kind="stable")
        rank = np.empty(n_orders, dtype=np.int64)
        rank[by_time] = np.arange(n_orders)
        lines = np.argsort(rank[order_of_line], kind="stable")
        cust_line, amount, category, product = (
            cust_line[lines],
            amount[lines],
            category[lines],
            product[lines],
        )
        order_ts = order_ts[by_time]
        order_of_line = rank[order_of_line][lines]
    elif layout != "customer":
        raise ValueError(f"unknown layout {layout!r}")

    return pa.table(
        {
            "customer_id": _ids("C", customer_numbers[cust_line]),
            "order_id": _ids("O", order_of_line + 1_000_000 + id_offset * 10),
            "timestamp": pa.array(order_ts[order_of_line] * 1_000_000, pa.timestamp("us", tz="UTC")),
            "amount": pa.array(amount),
            "category": pa.DictionaryArray.from_arrays(
                pa.array(category.astype(np.int32)), pa.array(CATEGORIES)
            ).cast(pa.string()),
            "product_id": _ids("P", product),
        }
    )


def write_parts(out: Path, n_lines: int, parts: int, seed: int, n_customers: int | None, layout: str) -> None:
    """Write ``n_lines`` lines as ``parts`` Parquet files ``out/part-NNNNN.parquet``.

    Part ``i`` is :func:`generate` with seed ``seed + i`` and ids offset so that no two
    parts share a customer or an order.
    """
    out.mkdir(parents=True, exist_ok=True)
    per_part = n_customers // parts if n_customers else None
    for i in range(parts):
        n = n_lines // parts + (1 if i < n_lines % parts else 0)
        offset = i * 100_000_000  # beyond any part's customer numbers (a part holds < 1e8 lines)
        table = generate(n, seed + i, per_part, layout, id_offset=offset)
        pq.write_table(table, out / f"part-{i:05d}.parquet", row_group_size=1 << 20)
        print(f"{out}/part-{i:05d}.parquet: {table.num_rows:,} lines", flush=True)
        del table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layout", choices=["customer", "time"], default="customer")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parts", type=int, default=1, help="write a directory of this many Parquet files")
    args = parser.parse_args()
    if args.parts > 1:
        write_parts(args.out, args.lines, args.parts, args.seed, args.customers, args.layout)
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table = generate(args.lines, args.seed, args.customers, args.layout)
    pq.write_table(table, args.out)
    cust = pc.count_distinct(table["customer_id"]).as_py()
    print(f"{args.out}: {table.num_rows:,} lines, {cust:,} customers")


if __name__ == "__main__":
    main()
