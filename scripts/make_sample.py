"""Write the small real Online Retail sample bundled in tests/data (seeded, reproducible).

python scripts/make_sample.py ../shared/data/online_retail/online_retail_2010-2011.csv.gz
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

SEED, CUSTOMERS, NO_ID_ROWS = 7, 150, 300
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "online_retail_sample.csv.gz"


def main(src: str) -> None:
    raw = pd.read_csv(src, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(SEED)
    ids = np.sort(raw.loc[raw["CustomerID"] != "", "CustomerID"].unique())
    chosen = set(rng.choice(ids, CUSTOMERS, replace=False))
    keep = raw["CustomerID"].isin(chosen)
    no_id = raw.index[raw["CustomerID"] == ""]
    keep.loc[rng.choice(no_id, NO_ID_ROWS, replace=False)] = True
    raw[keep].to_csv(OUT, index=False, compression={"method": "gzip", "mtime": 0})
    print(f"{int(keep.sum())} rows, {len(chosen)} customers -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
