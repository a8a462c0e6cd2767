"""In-process assignment: the service's path after parsing (assign_customers) against scikit-learn's predict.

    .venv/bin/python bench/inproc.py [--all] [--steps]

Prints the one-customer comparison (``--all``: also 16 one-customer requests assigned
together as a busy service does, 1,000 and 100,000 customers and the path from line arrays;
``--steps``: each step of the one-customer path timed alone), with the bundled model
(``models/online-retail/LATEST``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shopper_segments.app.assigning import assign_customers
from shopper_segments.app.histories import history_lines, to_ns
from shopper_segments.app.segmenter import LoadedModel, Segmenter
from shopper_segments.core.artifact import load_model
from shopper_segments.core.features import feature_matrix
from shopper_segments.core.transforms import transform_features

AS_OF = dt.datetime(2011, 12, 10, tzinfo=dt.UTC)
FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def customer_lines(seed: int, n_lines: int = 10) -> list[dict[str, Any]]:
    """One customer's lines as the parser hands them over (absent fields absent; 4 orders, one return)."""
    rng = np.random.default_rng(seed)
    days = sorted(rng.integers(0, 330, 4).tolist())
    out = []
    for j in range(n_lines):
        order = j % 4
        stamp = dt.datetime(2011, 1, 1, 9, tzinfo=dt.UTC) + dt.timedelta(days=days[order], minutes=order)
        amount = round(float(rng.lognormal(2.5, 1.0)), 2) + 0.01
        out.append(
            {
                "order_id": f"{536000 + seed * 10 + order}",
                "timestamp": stamp.isoformat(),  # text, as the parser hands it on
                "amount": -amount if j == n_lines - 1 else amount,
                "product_id": f"2{j:04d}",
            }
        )
    return out


def assign_histories(loaded: LoadedModel, customers: list[tuple[int, dict[str, Any]]]) -> np.ndarray:
    """What the service does with a request's customers after parsing (``assign_customers``).

    The serving rules, features and nearest centroid, and the service's own bookkeeping
    around them: duplicate ids, each customer's outcome and errors.
    """
    assigned = assign_customers([c for _, c in customers], loaded, AS_OF, FAR)
    assert len(assigned.rows) == len(customers), assigned.errors[:3]
    return assigned.result.segment_index


def load(model_dir: Path) -> tuple[Any, LoadedModel]:
    """The scikit-learn pipeline and the model as the service loads it."""
    model_dir = model_dir.resolve()  # Segmenter reads a relative path under its model root
    loaded = Segmenter(model_dir.parent.parent).load(model_dir)
    return load_model(model_dir)[1], loaded


def median_seconds(fn: Callable[[], object], calls: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean time per call over ``calls`` calls."""
    fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - started) / calls)
    return statistics.median(samples)


def one_customer(model_dir: Path, repeats: int = 7) -> dict[str, Any]:
    """One customer with 10 lines: the service's path after parsing against ``pipeline.predict``."""
    pipeline, loaded = load(model_dir)
    model = loaded.model
    one = [(0, {"customer_id": "c0", "transactions": customer_lines(0)})]
    X1 = feature_matrix(history_lines(one, model.spec, AS_OF, FAR).lines, model.spec, to_ns(AS_OF))[0]
    frame1 = pd.DataFrame(transform_features(X1, model.spec), columns=model.spec.names)
    assert assign_histories(loaded, one)[0] == pipeline.predict(frame1.to_numpy())[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pipeline was fitted on arrays: DataFrames warn on names
        ours = median_seconds(lambda: assign_histories(loaded, one), 2000, repeats)
        sk = median_seconds(lambda: pipeline.predict(frame1), 300, repeats)
    return _row("1 customer x 10 lines", ours, sk, 1)


def steps(model_dir: Path, repeats: int = 7) -> dict[str, float]:
    """Microseconds of each step of the one-customer path, each timed alone, and the whole."""
    loaded = load(model_dir)[1]
    model = loaded.model
    one = [(0, {"customer_id": "c0", "transactions": customer_lines(0)})]
    lines = history_lines(one, model.spec, AS_OF, FAR).lines
    X = feature_matrix(lines, model.spec, to_ns(AS_OF))[0]
    timed: dict[str, Callable[[], object]] = {
        "history_lines (the serving rules over the posted dicts)": lambda: history_lines(
            one, model.spec, AS_OF, FAR
        ),
        "feature_matrix": lambda: feature_matrix(lines, model.spec, to_ns(AS_OF)),
        "model.assign (transforms, scaling, nearest centroids)": lambda: model.assign(X),
        "the whole path (assign_customers)": lambda: assign_histories(loaded, one),
    }
    return {name: median_seconds(fn, 5000, repeats) * 1e6 for name, fn in timed.items()}


def run(model_dir: Path, repeats: int = 7) -> list[dict[str, Any]]:
    pipeline, loaded = load(model_dir)
    model = loaded.model
    names = model.spec.names
    pool = [(i, {"customer_id": f"c{i}", "transactions": customer_lines(i)}) for i in range(1000)]
    one = pool[:1]
    X1 = feature_matrix(history_lines(one, model.spec, AS_OF, FAR).lines, model.spec, to_ns(AS_OF))[0]
    frame1 = pd.DataFrame(transform_features(X1, model.spec), columns=names)
    assert assign_histories(loaded, one)[0] == pipeline.predict(frame1.to_numpy())[0]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pipeline was fitted on arrays: DataFrames warn on names
        ours = median_seconds(lambda: assign_histories(loaded, one), 2000, repeats)
        sk = median_seconds(lambda: pipeline.predict(frame1), 300, repeats)
        rows.append(_row("1 customer x 10 lines", ours, sk, 1))
        # What a busy service does (app.microbatch): one-customer requests assigned together;
        # per request. Not the target's row (a lone customer).
        sixteen = pool[:16]
        ours16 = median_seconds(lambda: assign_histories(loaded, sixteen), 500, repeats) / 16
        rows.append(_row("1 customer x 10 lines, 16 requests assigned together (per request)", ours16, sk, 1))
        for n in (1_000, 100_000):
            batch = [
                (i, {"customer_id": f"c{i}", "transactions": pool[i % 1000][1]["transactions"]})
                for i in range(n)
            ]
            Xb = feature_matrix(history_lines(batch, model.spec, AS_OF, FAR).lines, model.spec, to_ns(AS_OF))[
                0
            ]
            frame = pd.DataFrame(transform_features(Xb, model.spec), columns=names)
            labels = assign_histories(loaded, batch)
            assert (labels == pipeline.predict(frame.to_numpy())).all()
            calls = 5 if n == 1_000 else 1
            reps = repeats if n == 1_000 else 3
            ours = median_seconds(lambda b=batch: assign_histories(loaded, b), calls, reps)
            sk = median_seconds(lambda f=frame: pipeline.predict(f), calls, reps)
            rows.append(_row(f"{n:,} customers x 10 lines", ours, sk, n))
        # What the request rules and cleaning (history_lines) cost: the same customer from
        # its canonical line arrays, features plus assignment only (not the target row).
        lines1 = history_lines(one, model.spec, AS_OF, FAR).lines
        as_of_ns = to_ns(AS_OF)
        core = median_seconds(
            lambda: model.assign(feature_matrix(lines1, model.spec, as_of_ns)[0]).segment_index, 2000, repeats
        )
        rows.append(
            _row(
                "1 customer x 10 lines, from line arrays (no request rules)",
                core,
                rows[0]["sklearn_predict_df_us"] / 1e6,
                1,
            )
        )
    return rows


def _row(case: str, ours: float, sklearn: float, n: int) -> dict[str, Any]:
    return {
        "case": case,
        "ours_us": ours * 1e6,
        "sklearn_predict_df_us": sklearn * 1e6,
        "ours_customers_per_s": n / ours,
        "speedup": sklearn / ours,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also the batches (about a minute)")
    parser.add_argument("--steps", action="store_true", help="each step of the one-customer path alone")
    args = parser.parse_args()
    bundled = Path(__file__).resolve().parent.parent / "models" / "online-retail"
    model_dir = bundled / (bundled / "LATEST").read_text().strip()
    if args.steps:
        for name, us in steps(model_dir).items():
            print(f"{name}: {us:,.1f} us")
    for row in run(model_dir) if args.all else [one_customer(model_dir)]:
        print(
            f"{row['case']}: ours {row['ours_us']:,.1f} us, pipeline.predict(DataFrame) "
            f"{row['sklearn_predict_df_us']:,.1f} us, {row['speedup']:.1f}x"
        )


if __name__ == "__main__":
    main()
