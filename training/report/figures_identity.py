"""Segment identities across retraining: the migration heatmap, the matching evidence, the chain."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np

from shopper_segments.training.migration import chain_rows, walk_chain
from shopper_segments.training.report.context import ReportContext
from shopper_segments.training.report.html import table_html
from shopper_segments.training.report.plotting import Item, Note, colorbar, new_figure, render, segment_labels

TITLE = "Customer migration from the previous model"
CHAIN_TITLE = "Segment ids across versions"


def identity_info(ctx: ReportContext) -> dict[str, Any] | None:
    info = ctx.meta.get("identity")
    return info if isinstance(info, dict) else None


def previous_names(info: dict[str, Any]) -> dict[int, str]:
    """Previous segment id -> name (every previous segment has a pair; vanished ones are listed)."""
    names = {int(p["previous_id"]): str(p["previous_name"]) for p in info.get("pairs", [])}
    names |= {int(v["id"]): str(v["name"]) for v in info.get("vanished", [])}
    return names


def migration(ctx: ReportContext) -> Item:
    """Heatmap: rows previous segments, columns new ones; counts, coloured by row share."""
    info = identity_info(ctx)
    if info is None or not isinstance(info.get("migration"), dict):
        return Note(TITLE, "This model was trained without a previous model: no segment ids were matched.")
    mig = info["migration"]
    counts = np.asarray(mig["counts"], dtype=np.float64).reshape(len(mig["previous_ids"]), -1)
    if counts.size == 0:
        return Note(TITLE, "No customer is in both trainings.")
    prev_names = previous_names(info)
    new_names = {int(s["id"]): str(s["name"]) for s in ctx.segments}
    rows = segment_labels([prev_names.get(int(i), "?") for i in mig["previous_ids"]], mig["previous_ids"], 24)
    cols = segment_labels([new_names.get(int(i), "?") for i in mig["new_ids"]], mig["new_ids"], 18)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    fig = new_figure(max(6.5, 1.15 * counts.shape[1] + 3.8), 0.62 * counts.shape[0] + 2.4)
    ax = fig.add_subplot()
    image = ax.imshow(share * 100, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ink = "white" if share[i, j] > 0.6 else "black"
            text = f"{int(counts[i, j]):,}\n{share[i, j]:.0%}" if counts[i, j] else "0"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=ink)
    ax.set_xticks(range(counts.shape[1]), cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(counts.shape[0]), rows, fontsize=8)
    ax.set_xlabel("segment in this model (id · name)")
    ax.set_ylabel("segment in the previous model")
    ax.spines[:].set_visible(False)
    colorbar(fig, image, ax, "% of the previous segment's customers")
    both = int(mig.get("customers_in_both", counts.sum()))
    kept = int(mig.get("kept_segment", 0))
    caption = (
        f"The {both:,} customers in both trainings, by their segment in the previous model "
        f"({info.get('previous_version', '?')}) and in this one; {kept:,} ({kept / max(both, 1):.0%}) "
        f"kept their segment id. {int(mig.get('only_previous', 0)):,} customers were only in the "
        f"previous training, {int(mig.get('only_new', 0)):,} only in this one."
    )
    return render("migration.png", TITLE, caption, fig)


def identity_table(ctx: ReportContext) -> str:
    """HTML: per previous segment, its pair, the overlap evidence, the centroid check, kept or not."""
    info = identity_info(ctx)
    if info is None:
        return ""
    ids = {int(s["label"]): (int(s["id"]), str(s["name"])) for s in ctx.segments}
    rows: list[list[Any]] = []
    for p in info.get("pairs", []):
        label = p.get("label")
        paired = "-" if label is None else "{} {}".format(*ids.get(int(label), ("?", "?")))
        distance = "-" if p.get("distance") is None else f"{float(p['distance']):.2f}"
        rows.append(
            [
                f"{p['previous_id']} {p['previous_name']}",
                paired,
                f"{int(p['shared_customers']):,}",
                f"{float(p['overlap_share']):.0%}",
                f"{float(p['source_share']):.0%}",
                distance,
                "kept" if p["kept"] else "vanished",
                str(p["reason"]),
            ]
        )
    for new_id in info.get("new_ids", []):
        name = next((str(s["name"]) for s in ctx.segments if int(s["id"]) == int(new_id)), "?")
        rows.append(["-", f"{new_id} {name}", "", "", "", "", "new", "no previous segment kept into it"])
    header = ["previous", "paired with", "shared", "went there", "came from", "centroid", "id", "why"]
    caption = (
        f"Segment ids matched to {info.get('previous_version', 'the previous model')} "
        f"by {str(info.get('method', '?')).replace('_', ' ')}: {info.get('rule', '')}"
    )
    return table_html(header, rows, caption)


def lineage(ctx: ReportContext) -> Item:
    """Versions (columns) x segment ids (rows): sizes, and customers moving between ids."""
    chain = walk_chain(ctx.model_dir, ctx.meta)
    if len(chain) < 2:
        return Note(CHAIN_TITLE, "No earlier version of this model is in the model root: no chain to draw.")
    names = {int(s["id"]): str(s["name"]) for meta in chain for s in meta.get("segments", [])}
    ids = sorted(names)
    row = {sid: i for i, sid in enumerate(ids)}
    cmap = matplotlib.colormaps["tab10" if len(ids) <= 10 else "tab20"]
    fig = new_figure(max(6.5, 1.0 * len(chain) + 3.5), 0.5 * len(ids) + 2.2)
    ax = fig.add_subplot()
    for x, meta in enumerate(chain):
        mig = (meta.get("identity") or {}).get("migration") or {}
        total = max(int(mig.get("customers_in_both", 0)), 1)
        for pid, counts in zip(mig.get("previous_ids", []), mig.get("counts", []), strict=False):
            for nid, n in zip(mig.get("new_ids", []), counts, strict=False):
                if n and x and pid in row and nid in row:
                    width, alpha = 0.3 + 14 * n / total, 0.7 if pid == nid else 0.25
                    ax.plot(
                        [x - 1, x], [row[pid], row[nid]], color=cmap(row[pid] % cmap.N), lw=width, alpha=alpha
                    )
        for seg in meta.get("segments", []):
            sid = int(seg["id"])
            size = 30 + 700 * float(seg.get("share", 0.0))
            ax.scatter(x, row[sid], s=size, color=cmap(row[sid] % cmap.N), edgecolor="white", zorder=3)
    ticks = [str(m.get("data", {}).get("as_of", m.get("version", "?")))[:10] for m in chain]
    ax.set_xticks(range(len(chain)), ticks, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(ids)), segment_labels([names[i] for i in ids], ids, 24), fontsize=8)
    ax.set_ylim(len(ids) - 0.5, -0.5)
    ax.set_xlabel("model version (as_of)")
    caption = (
        f"This version and the {len(chain) - 1} before it: a dot per segment (size: its share of the "
        "customers), a line per move of customers in both trainings from one id to another (width: "
        "their number); a segment keeping its id runs straight across."
    )
    return render("lineage.png", CHAIN_TITLE, caption, fig)


def chain_table(ctx: ReportContext) -> str:
    """HTML: the versions this one descends from (oldest first) and the ids each kept."""
    chain = chain_rows(walk_chain(ctx.model_dir, ctx.meta))
    if len(chain) < 2:
        return ""
    rows: list[list[Any]] = []
    for row in chain:
        both, same = row["in_both"], row["same_id"]
        rows.append(
            [
                row["version"],
                row["as_of"],
                row["k"],
                _ids(row["kept"], row["names"]),
                _ids(row["new"], row["names"]),
                ", ".join(map(str, row["vanished"])) or "-",
                "-" if both is None else f"{both:,}",
                "-" if both is None else f"{same / max(both, 1):.0%}",
            ]
        )
    header = ["version", "as_of", "k", "kept ids", "new ids", "vanished ids", "in both", "same id"]
    caption = f"{CHAIN_TITLE}: this version and the {len(chain) - 1} before it found in the model root."
    return table_html(header, rows, caption)


def _ids(ids: list[int], names: dict[int, str]) -> str:
    return ", ".join(f"{i} {names.get(i, '')}".strip() for i in ids) or "-"
