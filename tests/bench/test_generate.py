"""The benchmark's generator: its two layouts hold the same lines, orders and features."""

from __future__ import annotations

import collections
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pyarrow as pa

from shopper_segments.core.features import rfm_spec
from shopper_segments.training.frames import features_from_table

ROOT = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def orders(table: pa.Table) -> list[list[tuple[object, ...]]]:
    """Each order's lines (customer, time, amount, product), order ids themselves left out."""
    lines: dict[str, list[tuple[object, ...]]] = collections.defaultdict(list)
    columns = ["order_id", "customer_id", "timestamp", "amount", "product_id"]
    for order, *rest in zip(*(table[c].to_pylist() for c in columns), strict=True):
        lines[order].append(tuple(rest))
    return sorted(sorted(v) for v in lines.values())


def test_time_layout_is_a_log_of_the_same_orders() -> None:
    gen = generator()
    grouped, log = gen.generate(30_000, seed=5), gen.generate(30_000, seed=5, layout="time")
    stamps = log["timestamp"].to_numpy().astype(np.int64)
    assert (np.diff(stamps) >= 0).all()
    numbers = np.array([int(o[1:]) for o in log["order_id"].to_pylist()])
    assert (np.diff(numbers) >= 0).all()  # invoices numbered as they come
    customers = grouped["customer_id"].to_numpy(zero_copy_only=False)
    assert (customers[1:] != customers[:-1]).sum() < len(set(customers))  # grouped: one run each
    interleaved = log["customer_id"].to_numpy(zero_copy_only=False)
    assert (interleaved[1:] != interleaved[:-1]).sum() > 2 * len(set(customers))
    assert orders(grouped) == orders(log)


def test_both_layouts_give_the_same_features() -> None:
    gen = generator()
    spec = rfm_spec(True, ["apparel", "beauty", "books"])
    as_of = pd.Timestamp("2024-01-02", tz="UTC")
    grouped = features_from_table(gen.generate(30_000, seed=6), spec, as_of)
    log = features_from_table(gen.generate(30_000, seed=6, layout="time"), spec, as_of)
    pd.testing.assert_frame_equal(grouped.sort_index(), log.sort_index(), check_exact=False, rtol=1e-12)
