"""One aggregation run in its own process: read the Parquet file, compute the features.

``python bench/agg.py METHOD FILE [OUT.npy]`` prints one JSON line with the seconds
(read + features, imports excluded) and the process's peak RSS; with OUT.npy, it then
saves the features and adds a digest of the customer ids (for the agreement check).
Methods compute the same features (RFM + spend shares of CATEGORIES + other, as of AS_OF):
``ours`` (training.frames.features_from_parquet: the feature definition's Arrow edge, the
same conversion compute_features gives training's cleaned lines), ``pandas`` (an
idiomatic groupby) and ``duckdb`` (one SQL query).
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = ["apparel", "beauty", "books", "electronics", "garden", "grocery", "home", "kitchen"]
AS_OF = pd.Timestamp("2024-01-02T00:00:00Z")
COLUMNS = ["customer_id", "order_id", "timestamp", "amount", "category"]


def ours(path: Path) -> pd.DataFrame:
    from shopper_segments.core.features import rfm_spec
    from shopper_segments.training.frames import features_from_parquet

    return features_from_parquet(path, rfm_spec(True, CATEGORIES), AS_OF)


def pandas_groupby(path: Path) -> pd.DataFrame:
    lines = pd.read_parquet(path, columns=COLUMNS)
    buys = lines[lines["amount"] > 0]
    per = buys.groupby("customer_id").agg(
        last=("timestamp", "max"), first=("timestamp", "min"), frequency=("order_id", "nunique")
    )
    out = pd.DataFrame(index=per.index)
    out["recency_days"] = (AS_OF - per["last"]).dt.total_seconds() / 86_400
    out["frequency"] = per["frequency"].astype(float)
    out["monetary"] = lines.groupby("customer_id")["amount"].sum().reindex(per.index)
    out["avg_order_value"] = out["monetary"] / out["frequency"]
    out["tenure_days"] = (AS_OF - per["first"]).dt.total_seconds() / 86_400
    cat = buys["category"].where(buys["category"].isin(CATEGORIES), "other")
    spend = buys.groupby([buys["customer_id"], cat])["amount"].sum().unstack(fill_value=0.0)
    spend = spend.reindex(columns=[*CATEGORIES, "other"], fill_value=0.0)
    shares = spend.div(spend.sum(axis=1), axis=0)
    for c in spend.columns:
        out[f"share_{c}"] = shares[c].reindex(per.index)
    return out.sort_index()


def duckdb_sql(path: Path) -> pd.DataFrame:
    import duckdb

    cats = ", ".join(f"'{c}'" for c in CATEGORIES)
    shares = ",\n".join(
        f"coalesce(sum(amount) FILTER (WHERE category = '{c}'), 0) / sum(amount) AS share_{c}"
        for c in CATEGORIES
    )
    as_of = AS_OF.value
    query = f"""
    WITH l AS (SELECT customer_id, order_id, epoch_ns(timestamp) AS ts, amount, category
               FROM read_parquet('{path}')),
    p AS (SELECT customer_id, max(ts) AS last, min(ts) AS first, count(DISTINCT order_id) AS frequency,
                 {shares},
                 coalesce(sum(amount) FILTER (WHERE category IS NULL OR category NOT IN ({cats})), 0)
                   / sum(amount) AS share_other
          FROM l WHERE amount > 0 GROUP BY customer_id),
    m AS (SELECT customer_id, sum(amount) AS monetary FROM l GROUP BY customer_id)
    SELECT p.customer_id, ({as_of} - last) / 86400e9 AS recency_days, frequency::DOUBLE AS frequency,
           monetary, monetary / frequency AS avg_order_value, ({as_of} - first) / 86400e9 AS tenure_days,
           p.* EXCLUDE (customer_id, last, first, frequency)
    FROM p JOIN m USING (customer_id) ORDER BY p.customer_id
    """
    return duckdb.connect().sql(query).df().set_index("customer_id")


METHODS = {"ours": ours, "pandas": pandas_groupby, "duckdb": duckdb_sql}


def main() -> None:
    method, path = sys.argv[1], Path(sys.argv[2])
    started = time.perf_counter()
    frame = METHODS[method](path)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out: dict[str, object] = {"method": method, "seconds": seconds, "peak_mb": peak_mb}
    out["customers"] = len(frame)
    if len(sys.argv) > 3:  # after the measurement: the features, a digest of the customer ids in order
        np.save(sys.argv[3], frame.to_numpy(np.float64))
        out["ids_sha256"] = hashlib.sha256("\n".join(map(str, frame.index)).encode()).hexdigest()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
