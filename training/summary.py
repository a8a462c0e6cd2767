"""The summary ``fit`` prints once a model is saved (from its metadata)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def format_summary(path: Path, meta: dict[str, Any]) -> str:
    """What ``fit`` prints: the data read and dropped, the choice of k, segment ids kept, the segments."""
    data, sel = meta["data"], meta["selection"]
    lines = [
        f"model {meta['version']} saved to {path}",
        f"rows read: {data['rows_read']:,}  customers: {data['customers']:,}",
    ]
    for reason, count in data["rows_dropped"].items():
        lines.append(f"  dropped {count:>8,}  {reason}")
    for reason, count in data.get("customers_dropped", {}).items():
        lines.append(f"  customers dropped {count:,}: {reason}")
    if "return_lines_kept" in data:
        lines.append(f"  return lines kept (reduce net spend): {data['return_lines_kept']:,}")
    for example in data.get("bad_row_examples", [])[:5]:
        lines.append(f"    {example}")
    if "as_of" in data:
        lines.append(f"date range {data['date_range'][0]} .. {data['date_range'][1]}, as_of {data['as_of']}")
    if "note" in data:
        lines.append(f"NOTE: {data['note']}")
    lines.append(f"algorithm {meta['algorithm']}: k = {sel['chosen_k']} ({sel['rule']})")
    if sel.get("warning"):
        lines.append(f"WARNING: {sel['warning']}")
    if sel.get("better_outside_note"):
        lines.append(f"NOTE: {sel['better_outside_note']}")
    lines.append(f"elbow (knee of inertia): k = {sel['elbow']['k']}")
    lines += _score_table(sel["scores"], sel["chosen_k"])
    for run in (sel.get("comparison") or {}).get("algorithms", []):
        lines.append(f"compare {run['algorithm']}: k = {run['chosen_k']} (elbow {run['elbow_k']})")
        if run["warning"]:
            lines.append(f"  WARNING: {run['warning']}")
        lines += _score_table(run["scores"], run["chosen_k"])
    ident = meta.get("identity")
    if ident:
        from shopper_segments.training.migration import format_migration

        source = "the current LATEST model" if ident.get("previous_default") else "--previous"
        lines.append(f"segment ids from {ident['previous_version']} ({source}), by {ident['method']}:")
        for p in ident["pairs"]:
            outcome = "kept" if p["kept"] else "vanished"
            lines.append(f"  id {p['previous_id']:>3} {p['previous_name']!r} {outcome}")
            distance = "-" if p["distance"] is None else f"{p['distance']:.2f}"
            lines.append(f"         {p['reason']} (centroid distance {distance})")
        lines += [f"  id {i:>3} is new" for i in ident["new_ids"]]
        lines += format_migration(ident)
    lines += _segment_table(meta)
    return "\n".join(lines)


def _segment_table(meta: dict[str, Any]) -> list[str]:
    """Segments with whole names: id, name, size, share, stability, medians of the first features."""
    sel, key = meta["selection"], meta["features"]["names"][:5]
    at_k: dict[str, Any] = next((s for s in sel["scores"] if s["k"] == sel["chosen_k"]), {})
    per_segment = at_k.get("segment_stability") or []
    width = max(len("name"), *(len(seg["name"]) for seg in meta["segments"]))
    cols = [max(10, len(k)) for k in key]
    lines = [
        f"{'id':>3} {'name':<{width}} {'size':>7} {'share':>6} {'stability':>9}  "
        + " ".join(f"{k:>{w}}" for k, w in zip(key, cols, strict=True))
    ]
    for seg in meta["segments"]:
        label = seg["label"]
        stab = f"{per_segment[label]:>9.2f}" if label < len(per_segment) else f"{'-':>9}"
        vals = " ".join(f"{seg['median'][k]:>{w},.2f}" for k, w in zip(key, cols, strict=True))
        lines.append(
            f"{seg['id']:>3} {seg['name']:<{width}} {seg['size']:>7,} {seg['share']:>6.1%} {stab}  {vals}"
        )
    currency = meta["parameters"].get("currency")
    money = f"; money in {currency}" if currency else ""
    lines.append(
        "(segment values are member medians in original units" + money + "; stability: mean best Jaccard "
        "overlap of the segment with a bootstrap fit's segment, 0.75+ is stable)"
    )
    return lines


def _score_table(scores: list[dict[str, Any]], chosen: int) -> list[str]:
    lines = [
        f"{'k':>3} {'silhouette':>10} {'calinski_h':>11} {'davies_b':>9} {'inertia':>12} {'stability':>9}"
        f" {'+/- std':>7}  range"
    ]
    for s in scores:
        mark = " <" if s["k"] == chosen else ""
        where = "in " if s.get("in_range", True) else "out"
        lines.append(
            f"{s['k']:>3} {s['silhouette']:>10.4f} {s['calinski_harabasz']:>11.1f} "
            f"{s['davies_bouldin']:>9.3f} {s['inertia']:>12.1f} {s['stability']:>9.3f}"
            f" {s['stability_std']:>7.3f}  {where}{mark}"
        )
    return lines
