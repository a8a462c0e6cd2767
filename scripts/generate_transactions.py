"""Write a large seeded transaction file in the Online Retail layout (for bulk-scoring runs).

python scripts/generate_transactions.py --lines 10000000 --out /tmp/tx10m.csv [--seed 1]

Lines are in time order, as in a real export, so every customer's lines are spread
across the whole file. About 1% of invoices have no customer id, 2% of invoices are
returns ("C" prefix, negative quantities) and 0.5% of lines are written twice (exact
duplicates), so cleaning has work to do. Read it with training/datasets/online_retail.toml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2010-12-01 08:00:00").value
SPAN_NS = 373 * 86_400 * 10**9
CHUNK_LINES = 500_000
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def chunk(
    rng: np.random.Generator,
    n_lines: int,
    first_invoice: int,
    t0: int,
    t1: int,
    n_customers: int,
    prices: np.ndarray,
) -> tuple[pd.DataFrame, int]:
    """About ``n_lines`` lines of invoices between t0 and t1 (ns); returns the next invoice number."""
    sizes = rng.geometric(1 / 18, size=max(n_lines // 18, 1))
    sizes = sizes[np.cumsum(sizes) <= n_lines] if sizes.sum() > n_lines else sizes
    n_inv = len(sizes)
    # Zipf-like activity: a few customers buy often, most rarely.
    cust = (rng.pareto(1.2, n_inv) * n_customers / 20).astype(np.int64) % n_customers + 12_000
    inv_time = np.sort(rng.integers(t0, t1, n_inv)) // 60_000_000_000 * 60_000_000_000
    is_return = rng.random(n_inv) < 0.02
    no_id = rng.random(n_inv) < 0.01
    inv_no = np.arange(first_invoice, first_invoice + n_inv)
    line_inv = np.repeat(np.arange(n_inv), sizes)
    product = rng.integers(0, len(prices), len(line_inv))
    qty = rng.geometric(0.15, len(line_inv))
    qty = np.where(is_return[line_inv], -qty, qty)
    invoice = pd.Series(inv_no[line_inv].astype(str))
    invoice = invoice.where(~is_return[line_inv], "C" + invoice)
    customer = pd.Series(cust[line_inv].astype(float).astype(str)).where(~no_id[line_inv], "")
    frame = pd.DataFrame(
        {
            "InvoiceNo": invoice,
            "StockCode": (product + 10_000).astype(str),
            "Description": "ITEM",
            "Quantity": qty,
            "InvoiceDate": pd.to_datetime(inv_time[line_inv]).strftime("%Y-%m-%d %H:%M:%S"),
            "UnitPrice": prices[product],
            "CustomerID": customer,
            "Country": "United Kingdom",
        }
    )
    dup = rng.random(len(frame)) < 0.005
    frame = pd.concat([frame, frame[dup]]).sort_index(kind="stable")
    return frame, first_invoice + n_inv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    prices = np.round(rng.lognormal(1.0, 0.8, 4_000) + 0.01, 2)
    n_chunks = max(1, -(-args.lines // CHUNK_LINES))
    written, invoice = 0, 500_000
    with args.out.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for c in range(n_chunks):
            want = min(CHUNK_LINES, args.lines - written)
            t0 = START + SPAN_NS * c // n_chunks
            t1 = START + SPAN_NS * (c + 1) // n_chunks
            frame, invoice = chunk(rng, want, invoice, t0, t1, args.customers, prices)
            frame.to_csv(handle, header=False, index=False)
            written += len(frame)
            print(f"\r{written:,} lines", end="", file=sys.stderr, flush=True)
    print(f"\n{written:,} lines -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
