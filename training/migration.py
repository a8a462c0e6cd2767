"""Where customers went between model versions: the migration table and the chain of versions.

Each version's metadata records its predecessor (``identity.previous_version`` and
``previous_path``) and the migration of the customers in both trainings; the chain is
walked back through the predecessors' ``metadata.json`` files still present beside the
version (or at the recorded path).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

#: Versions the chain walks back at most (a year of monthly retrains).
CHAIN_LIMIT = 12


def migration(previous: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    """Customers moving from each previous segment id to each new one.

    Parameters
    ----------
    previous, current : DataFrame
        ``customer_id`` and ``segment_id`` of each training's customers.

    Returns
    -------
    dict
        ``previous_ids`` (rows), ``new_ids`` (columns), ``counts`` (row-major lists),
        ``customers_in_both``, ``only_previous``, ``only_new``, ``kept_segment``
        (customers whose segment id did not change).
    """
    prev = previous.assign(customer_id=previous["customer_id"].astype(str))
    cur = current.assign(customer_id=current["customer_id"].astype(str))
    both = prev.merge(cur, on="customer_id", suffixes=("_previous", "_new"))
    rows = sorted(int(i) for i in prev["segment_id"].unique())
    cols = sorted(int(i) for i in cur["segment_id"].unique())
    table = (
        pd.crosstab(both["segment_id_previous"], both["segment_id_new"])
        .reindex(index=rows, columns=cols, fill_value=0)
        .astype(int)
    )
    return {
        "previous_ids": rows,
        "new_ids": cols,
        "counts": table.to_numpy().tolist(),
        "customers_in_both": len(both),
        "only_previous": int(len(prev) - len(both)),
        "only_new": int(len(cur) - len(both)),
        "kept_segment": int((both["segment_id_previous"] == both["segment_id_new"]).sum()),
    }


def format_migration(info: dict[str, Any]) -> list[str]:
    """The migration table as text lines (rows: previous ids, columns: new ids)."""
    mig = info["migration"]
    width = max(7, *(len(f"{c:,}") + 1 for row in mig["counts"] for c in row))
    lines = [
        f"migration of the {mig['customers_in_both']:,} customers in both trainings "
        f"({mig['kept_segment']:,} kept their segment; {mig['only_previous']:,} only in the previous, "
        f"{mig['only_new']:,} only in the new):",
        "prev\\new" + "".join(f"{c:>{width}}" for c in mig["new_ids"]),
    ]
    for pid, row in zip(mig["previous_ids"], mig["counts"], strict=True):
        lines.append(f"{pid:>8}" + "".join(f"{c:>{width},}" for c in row))
    return lines


def _predecessor(model_dir: Path, ident: dict[str, Any]) -> Path | None:
    candidates = [
        model_dir.parent / str(ident.get("previous_version", "")),
        Path(ident.get("previous_path", "")),
    ]
    return next((c for c in candidates if c.name and (c / "metadata.json").is_file()), None)


def walk_chain(model_dir: Path, meta: dict[str, Any], limit: int = CHAIN_LIMIT) -> list[dict[str, Any]]:
    """The metadata of ``model_dir``'s version and its predecessors, oldest first.

    Walks back while a version records a predecessor that is still present (beside
    ``model_dir``, else at its recorded path), at most ``limit`` versions.
    """
    chain, seen = [meta], {meta.get("version")}
    while len(chain) < limit and isinstance(ident := chain[-1].get("identity"), dict):
        path = _predecessor(model_dir, ident)
        if path is None:
            break
        previous = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        if previous.get("version") in seen:
            break
        seen.add(previous.get("version"))
        chain.append(previous)
        model_dir = path
    return chain[::-1]


def chain_rows(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per version (oldest first): as_of, k, kept / new / vanished ids and the migration."""
    rows = []
    for meta in chain:
        ident = meta.get("identity") or {}
        ids = sorted(int(s["id"]) for s in meta.get("segments", []))
        kept = sorted(int(p["previous_id"]) for p in ident.get("pairs", []) if p.get("kept"))
        mig = ident.get("migration") or {}
        rows.append(
            {
                "version": meta.get("version", "?"),
                "as_of": str(meta.get("data", {}).get("as_of", ""))[:10],
                "k": len(ids),
                "kept": kept,
                "new": [int(i) for i in ident.get("new_ids", ids)],
                "vanished": [int(v["id"]) for v in ident.get("vanished", [])],
                "method": ident.get("method", "first version"),
                "in_both": mig.get("customers_in_both"),
                "same_id": mig.get("kept_segment"),
                "names": {int(s["id"]): str(s["name"]) for s in meta.get("segments", [])},
            }
        )
    return rows


def format_chain(rows: list[dict[str, Any]]) -> list[str]:
    """The chain as text lines: one line per version, ids kept / new / vanished."""

    def ids(values: list[int]) -> str:
        return ",".join(map(str, values)) or "-"

    lines = [
        f"{'as_of':<10} {'k':>2}  {'kept':<14} {'new':<10} {'vanished':<9} {'in both':>8} {'same id':>8}"
    ]
    for row in rows:
        both = f"{row['in_both']:,}" if row["in_both"] is not None else "-"
        same = f"{row['same_id'] / max(row['in_both'], 1):.0%}" if row["in_both"] is not None else "-"
        lines.append(
            f"{row['as_of']:<10} {row['k']:>2}  {ids(row['kept']):<14} {ids(row['new']):<10} "
            f"{ids(row['vanished']):<9} {both:>8} {same:>8}"
        )
    last = rows[-1]["names"] if rows else {}
    lines.append("names: " + ", ".join(f"{i} {n}" for i, n in sorted(last.items())))
    return lines
