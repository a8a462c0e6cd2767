"""Selection on the real data sets with two seeds: chosen k, stability per k, per-segment stability, time.

Run: .venv/bin/python bench/selection_stability.py [--seeds 42 7] [--out results.json]
(needs ../shared/data; the date-only case is Online Retail with its timestamps cut to dates,
written to a temporary file). Prints one line per training and the per-k table of
docs/training.md ("Choosing k"); kmeans with the fit defaults, no report.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from shopper_segments.training.config import TrainConfig
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.train import train

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SPECS = ROOT / "training" / "datasets"


def cases(tmp: Path) -> dict[str, dict[str, Any]]:
    retail = DATA / "online_retail/online_retail_2010-2011.csv.gz"
    dates = tmp / "online_retail_dates.csv.gz"
    raw = pd.read_csv(retail, dtype=str, usecols=["CustomerID", "InvoiceDate"]).dropna()
    raw["InvoiceDate"] = raw["InvoiceDate"].str[:10]
    raw.to_csv(dates, index=False)
    return {
        "online_retail": {"input": retail, "dataset": DatasetSpec.from_toml(SPECS / "online_retail.toml")},
        "complete_journey": {
            "input": DATA / "complete_journey/transactions_sample.csv.gz",
            "dataset": DatasetSpec.from_toml(SPECS / "complete_journey.toml"),
        },
        "dates_only": {
            "input": dates,
            "dataset": DatasetSpec().with_overrides(customer_id="CustomerID", timestamp="InvoiceDate"),
        },
        "mall_customers": {
            "input": DATA / "customer_tables/mall_customers.csv",
            "table_columns": ["Annual Income (k$)", "Spending Score (1-100)"],
            "table_id": "CustomerID",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=[42, 7])
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    args = parser.parse_args()
    results: dict[str, dict[int, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in cases(Path(tmp)).items():
            for seed in args.seeds:
                started = time.perf_counter()
                config = TrainConfig(
                    out=Path(tmp) / "models", name=f"{name}-{seed}", seed=seed, report=False, **options
                )
                config.use_previous = False
                _, meta = train(config)
                sel = meta["selection"]
                at_k = next(s for s in sel["scores"] if s["k"] == sel["chosen_k"])
                results.setdefault(name, {})[seed] = {
                    "k": sel["chosen_k"],
                    "warning": sel["warning"],
                    "better_outside": sel["better_outside_note"],
                    "seconds": round(time.perf_counter() - started, 1),
                    "segment_stability": at_k["segment_stability"],
                    "scores": {s["k"]: s for s in sel["scores"]},
                }
                r = results[name][seed]
                low = min(r["segment_stability"])
                print(
                    f"{name} seed {seed}: k={r['k']} stability {at_k['stability']:.3f} "
                    f"(segments >= {low:.2f}) {r['seconds']} s; {r['better_outside'] or 'no k outside named'}"
                    + (f"; WARNING {r['warning']}" if r["warning"] else "")
                )
    a, b = args.seeds
    print(f"\n| k | {' | '.join(results)} |")
    for k in range(2, 11):
        cells = []
        for runs in results.values():
            x, y = runs[a]["scores"].get(k), runs[b]["scores"].get(k)
            cells.append(f"{x['stability']:.3f} / {y['stability']:.3f}" if x and y else "-")
        print(f"| {k} | {' | '.join(cells)} |")
    gaps = {
        name: max(
            abs(runs[a]["scores"][k]["stability"] - runs[b]["scores"][k]["stability"])
            for k in runs[a]["scores"]
        )
        for name, runs in results.items()
    }
    print("largest stability gap between the seeds:", {n: round(g, 3) for n, g in gaps.items()})
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
